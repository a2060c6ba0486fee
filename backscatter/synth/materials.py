"""Materials table: density, effective Z, attenuation and Compton scatter coefficients.

Mass attenuation coefficients (total, with coherent scattering, cm^2/g) of the elements are the
NIST XCOM / Hubbell-Seltzer values at 20, 30, 40, 60, 80 and 100 keV, rounded to 3-4 significant
figures. Incoherent (Compton) mass scattering coefficients are Klein-Nishina per electron times
``Z/A * N_A`` times an incoherent-scattering-function factor that reproduces XCOM's incoherent
column (binding makes bound electrons scatter less at low energy). Compounds follow the mixture
rule by weight fraction. Values between grid energies are interpolated log-log.
See docs/physics.md for the numbers and the sources.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

#: energy grid of the element table, keV
ENERGIES_KEV: tuple[float, ...] = (20.0, 30.0, 40.0, 60.0, 80.0, 100.0)

AVOGADRO = 6.02214076e23
ELECTRON_RADIUS_CM = 2.8179403e-13

#: element -> (Z, A g/mol, total mu/rho cm^2/g on ENERGIES_KEV), NIST XCOM (with coherent)
ELEMENTS: dict[str, tuple[int, float, tuple[float, ...]]] = {
    "H": (1, 1.008, (0.3695, 0.3570, 0.3458, 0.3260, 0.3091, 0.2944)),
    "C": (6, 12.011, (0.4420, 0.2562, 0.2076, 0.1753, 0.1610, 0.1514)),
    "N": (7, 14.007, (0.6179, 0.3066, 0.2288, 0.1805, 0.1611, 0.1529)),
    "O": (8, 15.999, (0.8651, 0.3779, 0.2585, 0.1907, 0.1678, 0.1551)),
    "Na": (11, 22.990, (2.399, 0.8305, 0.4385, 0.2228, 0.1730, 0.1545)),
    "Al": (13, 26.982, (3.441, 1.128, 0.5685, 0.2778, 0.2018, 0.1704)),
    "Si": (14, 28.086, (4.464, 1.436, 0.7012, 0.3207, 0.2228, 0.1835)),
    "S": (16, 32.06, (7.788, 2.437, 1.114, 0.4358, 0.2609, 0.1985)),
    "Cl": (17, 35.45, (8.846, 2.751, 1.250, 0.4772, 0.2794, 0.2067)),
    "Ca": (20, 40.078, (14.35, 4.242, 1.877, 0.6605, 0.3573, 0.2451)),
    "Fe": (26, 55.845, (25.68, 8.176, 3.629, 1.205, 0.5952, 0.3717)),
    # heavy elements for the novel concealments (synth --novel); Au and Pb have their K edge
    # (80.7, 88.0 keV) between 80 and 100 keV: the 100 keV value is above the edge
    "Cu": (29, 63.546, (33.79, 10.92, 4.862, 1.593, 0.7630, 0.4584)),
    "Au": (79, 196.967, (78.83, 27.47, 12.97, 4.528, 2.185, 5.158)),
    "Pb": (82, 207.2, (86.36, 30.32, 14.36, 5.021, 2.419, 5.549)),
}

#: incoherent scattering-function factor S/Z by element group on ENERGIES_KEV (read off XCOM's
#: incoherent column divided by the free-electron Klein-Nishina value)
_BINDING: dict[str, tuple[float, ...]] = {
    "H": (0.965, 0.980, 0.988, 0.995, 0.997, 0.998),
    "light": (0.860, 0.920, 0.950, 0.975, 0.985, 0.990),  # Z 6..8
    "mid": (0.800, 0.870, 0.915, 0.955, 0.970, 0.980),  # Z 11..20
    "Fe": (0.750, 0.830, 0.880, 0.930, 0.955, 0.970),
}


def klein_nishina_cm2(energy_kev: float) -> float:
    """Total Klein-Nishina cross section per free electron, cm^2."""
    k = energy_kev / 510.999
    a = (1 + k) / k**2 * (2 * (1 + k) / (1 + 2 * k) - math.log(1 + 2 * k) / k)
    a += math.log(1 + 2 * k) / (2 * k) - (1 + 3 * k) / (1 + 2 * k) ** 2
    return 2 * math.pi * ELECTRON_RADIUS_CM**2 * a


def compton_energy_kev(energy_kev: float, angle_deg: float) -> float:
    """Energy of a photon Compton-scattered through ``angle_deg``."""
    k = energy_kev / 510.999
    return energy_kev / (1 + k * (1 - math.cos(math.radians(angle_deg))))


def _loglog(energy_kev: float, values: tuple[float, ...]) -> float:
    x = np.log(np.asarray(ENERGIES_KEV))
    y = np.log(np.asarray(values))
    e = math.log(energy_kev)
    if e <= x[0]:
        slope = (y[1] - y[0]) / (x[1] - x[0])
        return float(math.exp(y[0] + slope * (e - x[0])))
    if e >= x[-1]:
        slope = (y[-1] - y[-2]) / (x[-1] - x[-2])
        return float(math.exp(y[-1] + slope * (e - x[-1])))
    return float(math.exp(np.interp(e, x, y)))


def element_mu_rho(symbol: str, energy_kev: float) -> float:
    """Total mass attenuation coefficient of an element, cm^2/g."""
    return _loglog(energy_kev, ELEMENTS[symbol][2])


def element_incoherent_rho(symbol: str, energy_kev: float) -> float:
    """Incoherent (Compton) mass scattering coefficient of an element, cm^2/g."""
    z, a, _ = ELEMENTS[symbol]
    group = "H" if z == 1 else "light" if z <= 8 else "Fe" if z >= 26 else "mid"
    b = float(np.interp(energy_kev, ENERGIES_KEV, _BINDING[group]))
    return klein_nishina_cm2(energy_kev) * AVOGADRO * z / a * b


@dataclass(frozen=True)
class Material:
    """A homogeneous material: density g/cm^3 and composition by weight fraction."""

    name: str
    density: float
    composition: tuple[tuple[str, float], ...]
    note: str = ""

    def __post_init__(self) -> None:
        total = sum(w for _, w in self.composition)
        if abs(total - 1.0) > 0.02:
            raise ValueError(f"{self.name}: expected weight fractions summing to 1, got {total}")
        if self.density <= 0:
            raise ValueError(f"{self.name}: expected density > 0, got {self.density}")

    def mu_rho(self, energy_kev: float) -> float:
        """Mass attenuation coefficient, cm^2/g (mixture rule)."""
        return sum(w * element_mu_rho(s, energy_kev) for s, w in self.composition)

    def incoherent_rho(self, energy_kev: float) -> float:
        """Compton mass scattering coefficient, cm^2/g (mixture rule)."""
        return sum(w * element_incoherent_rho(s, energy_kev) for s, w in self.composition)

    def mu(self, energy_kev: float) -> float:
        """Linear attenuation coefficient, 1/cm."""
        return self.mu_rho(energy_kev) * self.density

    def mu_scatter(self, energy_kev: float) -> float:
        """Linear Compton scattering coefficient, 1/cm."""
        return self.incoherent_rho(energy_kev) * self.density

    @property
    def z_eff(self) -> float:
        """Photoelectric effective Z (Spiers/Mayneord, exponent 2.94, electron fractions)."""
        electrons = [
            (ELEMENTS[s][0], w * ELEMENTS[s][0] / ELEMENTS[s][1]) for s, w in self.composition
        ]
        total = sum(e for _, e in electrons)
        return float(sum(e / total * z**2.94 for z, e in electrons) ** (1 / 2.94))


_CELLULOSE = (("C", 0.444), ("H", 0.062), ("O", 0.494))
_GYPSUM = (("H", 0.0234), ("O", 0.5576), ("S", 0.1862), ("Ca", 0.2328))
_COCAINE_HCL = (("C", 0.601), ("H", 0.065), ("Cl", 0.104), ("N", 0.041), ("O", 0.189))
_TNT = (("C", 0.370), ("H", 0.022), ("N", 0.185), ("O", 0.423))
_SUGAR = (("C", 0.421), ("H", 0.065), ("O", 0.514))
_TOBACCO = (("C", 0.44), ("H", 0.06), ("O", 0.48), ("N", 0.02))
_HEROIN = (("C", 0.683), ("H", 0.063), ("N", 0.038), ("O", 0.216))

#: the table, in a fixed order (index = material id used by the renderer)
MATERIALS: tuple[Material, ...] = (
    Material("air", 0.0012, (("N", 0.755), ("O", 0.245)), "dry air at sea level"),
    Material("steel", 7.85, (("Fe", 0.995), ("C", 0.005)), "mild steel sheet"),
    Material("aluminium", 2.70, (("Al", 1.0),)),
    Material("rubber", 1.15, (("C", 0.83), ("H", 0.10), ("O", 0.05), ("S", 0.02)), "tyre compound"),
    Material("plywood", 0.60, _CELLULOSE, "cellulose, wood/plywood"),
    Material("drywall", 0.70, _GYPSUM, "gypsum board, bulk density"),
    Material("plastic", 0.95, (("C", 0.856), ("H", 0.144)), "polypropylene/polyethylene"),
    Material("nylon", 1.14, (("C", 0.637), ("H", 0.098), ("N", 0.124), ("O", 0.141))),
    Material("textile", 0.25, _CELLULOSE, "folded clothes, bulk density"),
    Material("paper", 0.80, _CELLULOSE),
    Material("banknote", 0.90, _CELLULOSE, "cotton paper, pressed bundle"),
    Material("water", 1.00, (("H", 0.1119), ("O", 0.8881))),
    Material("ethanol", 0.79, (("C", 0.521), ("H", 0.131), ("O", 0.348))),
    Material("powder_low", 0.55, _SUGAR, "loose organic powder (flour, sugar)"),
    Material("organic_compound", 1.20, _COCAINE_HCL, "pressed narcotic brick (cocaine HCl)"),
    Material("explosive", 1.60, _TNT, "cast/pressed explosive (TNT)"),
    Material("foam", 0.05, (("C", 0.60), ("H", 0.07), ("N", 0.08), ("O", 0.25)), "PU foam"),
    Material("glass", 2.50, (("O", 0.46), ("Si", 0.337), ("Na", 0.096), ("Ca", 0.107))),
    Material(
        "fr4", 1.85, (("O", 0.41), ("Si", 0.17), ("C", 0.30), ("H", 0.03), ("Ca", 0.09)), "PCB"
    ),
    Material(
        "porcelain",
        2.40,
        (("O", 0.48), ("Si", 0.30), ("Al", 0.17), ("Na", 0.05)),
        "vitreous china: knife handles, mugs (K of the feldspar counted as Na)",
    ),
    Material(
        "cheese",
        1.10,
        (
            ("C", 0.40),
            ("H", 0.088),
            ("N", 0.04),
            ("O", 0.45),
            ("Na", 0.007),
            ("Ca", 0.007),
            ("Cl", 0.008),
        ),  # fmt: skip
        "hard cheese: ~37 % water, 33 % fat, 25 % protein, salt and calcium",
    ),
    Material(
        "bread",
        0.25,
        (("C", 0.33), ("H", 0.075), ("N", 0.02), ("O", 0.57), ("Na", 0.005)),
        "bread, bulk density with the crumb's air: starch and ~38 % water",
    ),
    Material(
        "meat",
        1.05,
        (("C", 0.20), ("H", 0.10), ("N", 0.035), ("O", 0.65), ("Na", 0.01), ("Cl", 0.005)),
        "sausage or ham: ~60 % water, protein, fat, salt",
    ),
    # novel concealments (backscatter.synth.novel); appended so earlier ids do not move
    Material("tobacco", 0.32, _TOBACCO, "cigarettes in packs, bulk density with the air"),
    Material("gold", 19.3, (("Au", 1.0),)),
    Material("lead", 11.35, (("Pb", 1.0),), "bullet cores"),
    Material("brass", 8.5, (("Cu", 1.0),), "cartridge brass, taken as copper"),
    Material("heroin", 1.10, _HEROIN, "pressed diacetylmorphine base"),
    Material("cannabis", 0.70, _CELLULOSE, "compressed plant matter"),
)

MATERIAL_INDEX: dict[str, int] = {m.name: i for i, m in enumerate(MATERIALS)}


def material_id(name: str) -> int:
    """Index of a material by name; ValueError naming the known ones otherwise."""
    try:
        return MATERIAL_INDEX[name]
    except KeyError:
        raise ValueError(
            f"material: expected one of {sorted(MATERIAL_INDEX)}, got {name!r}"
        ) from None


@lru_cache(maxsize=16)
def coefficient_table(
    energy_kev: float, exit_energy_kev: float, exit_path_factor: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per-material ``(mu_eff, mu_s)`` in 1/cm, float64 arrays indexed by material id.

    ``mu_eff = mu(E) + exit_path_factor * mu(E')`` is the two-way attenuation of a backscatter
    path (normal incidence in at ``E``, oblique exit at the Compton energy ``E'``); ``mu_s`` is the
    linear Compton coefficient at ``E``.
    """
    mu_eff = np.array(
        [m.mu(energy_kev) + exit_path_factor * m.mu(exit_energy_kev) for m in MATERIALS]
    )
    mu_s = np.array([m.mu_scatter(energy_kev) for m in MATERIALS])
    return mu_eff, mu_s
