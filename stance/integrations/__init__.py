"""Optional integrations with other systems; each lives in its own submodule.

Nothing here is imported by ``import stance``, and importing this package imports no
third-party system:

- :mod:`stance.integrations.ray`: batch scoring on Ray Data
  (``pip install 'claimstance[ray]'``).
"""
