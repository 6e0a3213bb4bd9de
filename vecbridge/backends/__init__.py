"""Backends for real external games: browsers (Chromium over DevTools), emulators."""
