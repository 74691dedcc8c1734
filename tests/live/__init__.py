"""Tests with real Chromium, FFmpeg, HTTP and emulated Chromecasts."""
