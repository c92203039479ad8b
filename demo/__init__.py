"""Demo relying parties for `make run`: two portals that sign in with dangnhap (see demo/portals.py)."""
