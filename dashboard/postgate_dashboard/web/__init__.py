"""The dashboard's web shell: sign-in, roles, security headers, layout and the pages."""
