"""Agent classes: the market's Mesa agents (ChipVendor, Hyperscaler, Lab) and the venture side's (VentureFund, one
per VC firm, and StartupCohort, every startup of a run as arrays with their cap tables), one module each."""
