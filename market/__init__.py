"""The economics and the Mesa model: roofline and pricing kernels (pure numpy), calibration, and
(later) demand, clearing, syndication network, metrics and the monthly schedule."""
