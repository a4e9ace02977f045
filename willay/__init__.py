"""Willay: short, trustworthy health tips in Spanish and Quechua over USSD, IVR and SMS."""

__version__ = "0.1.0"

__all__ = ["__version__"]
