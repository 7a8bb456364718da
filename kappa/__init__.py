"""The vocabulary every Kappa package shares: its errors (:mod:`kappa.errors`), its units and clock
constants (:mod:`kappa.units`) and the trading clock's interface (:mod:`kappa.clock`).

Nothing here imports another Kappa package, opens a file or a connection; every package may import it.
"""
