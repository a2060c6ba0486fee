"""OpenCV viewer for screening officers, over pure render functions."""
