"""DICOS objects: DX images, Threat Detection Reports, and the DICOM network."""
