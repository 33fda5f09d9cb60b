"""Playlist models: filled in by the playlists work."""
