"""Tests for Dashboard Cast."""
