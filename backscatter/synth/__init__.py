"""Backscatter scene simulator, threat library, dataset builder and the simulated device.

- :mod:`~backscatter.synth.materials`: materials table (NIST XCOM based), per-profile coefficients
- :mod:`~backscatter.synth.physics`: device profiles, layer transport, detector model
- :mod:`~backscatter.synth.scenes`, :mod:`~backscatter.synth.clutter`,
  :mod:`~backscatter.synth.threats`: scene families, benign clutter, the five threat classes
- :mod:`~backscatter.synth.render`: :func:`render_scene` (one scan + visible-part labels)
- :mod:`~backscatter.synth.dataset`: :func:`build_dataset` (COCO train/val/test, masks, manifest)
- :mod:`~backscatter.synth.device`: :func:`simulate_scan` (a Scan with ground truth); the
  ``sim://`` frame source lives in :mod:`backscatter.acquisition.sim`

See docs/physics.md for the model, its numbers and what it leaves out.
"""
