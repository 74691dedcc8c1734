"""The renderer service and the add-on: Dashboard Cast's render pipeline outside Home Assistant.

Run it with: python -m dashboard_cast_renderer (see __main__.py), or as the
add-on (addon.py). The pipeline is the dashboard_cast_pipeline library, installed
by name: ``pip install .[browser]`` from the repository or its release archive.
"""
