"""Mesa agent classes of the market (ChipVendor, Hyperscaler, Lab) and the venture side (Startup,
VentureFund), one module each. They arrive with the market-model and venture issues."""
