"""The platform's PKI: CA hierarchy, end-entity certificates, CRL, OCSP and the RFC 3161 TSA."""
