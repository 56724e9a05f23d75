"""The teaching dashboard: a Mesa SolaraViz app (`compute-market dashboard`, or `solara run` on app.py).

session.py builds a run from a preset and the levers (no Solara needed, tested directly); figures.py draws
the views with matplotlib; lessons.py reads the Markdown lessons, preset info pages and glossary;
app.py is the Solara page.
"""
