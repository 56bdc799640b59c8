"""The OASIS CAP 1.2 XML schema, shipped as package data (read by ``controller.domain.cap``)."""
