import pytest

from playlists.links import LinkError, parse_link, parse_links, source_spec

PLAYLIST = "37i9dQZF1DX3rxVfibe1L0"
TRACK = "4cOdK2wGLETKBW3PvgPWqT"
ALBUM = "4m2880jivSbbyEGAKfITCa"


@pytest.mark.parametrize(
    ("text", "uri"),
    [
        (f"https://open.spotify.com/playlist/{PLAYLIST}", f"spotify:playlist:{PLAYLIST}"),
        (
            f"https://open.spotify.com/playlist/{PLAYLIST}?si=abc123&pi=x",
            f"spotify:playlist:{PLAYLIST}",
        ),
        (f"https://open.spotify.com/intl-de/track/{TRACK}?si=1f2e", f"spotify:track:{TRACK}"),
        (f"https://open.spotify.com/intl-pt-br/album/{ALBUM}", f"spotify:album:{ALBUM}"),
        (f"open.spotify.com/track/{TRACK}", f"spotify:track:{TRACK}"),
        (f"http://open.spotify.com/album/{ALBUM}/", f"spotify:album:{ALBUM}"),
        (f"https://open.spotify.com/embed/playlist/{PLAYLIST}", f"spotify:playlist:{PLAYLIST}"),
        (
            f"https://open.spotify.com/user/someone/playlist/{PLAYLIST}",
            f"spotify:playlist:{PLAYLIST}",
        ),
        (f"  spotify:track:{TRACK}  ", f"spotify:track:{TRACK}"),
        (f"spotify:user:someone:playlist:{PLAYLIST}", f"spotify:playlist:{PLAYLIST}"),
        (f"https://open.spotify.com/track/{TRACK}#fragment", f"spotify:track:{TRACK}"),
    ],
)
def test_good_links_normalise_to_spotify_uris(text, uri):
    assert parse_link(text).uri == uri


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Empty link"),
        ("https://example.com/playlist/37i9dQZF1DX3rxVfibe1L0", "not a Spotify link"),
        (
            "https://open.spotify.com.evil.example/track/4cOdK2wGLETKBW3PvgPWqT",
            "not a Spotify link",
        ),
        ("ftp://open.spotify.com/track/4cOdK2wGLETKBW3PvgPWqT", "not a Spotify link"),
        ("https://open.spotify.com/artist/0OdUWJ0sBjDrqHygGUXeCF", "artist link"),
        ("https://open.spotify.com/episode/0OdUWJ0sBjDrqHygGUXeCF", "episode link"),
        ("spotify:show:0OdUWJ0sBjDrqHygGUXeCF", "show link"),
        ("https://open.spotify.com/track/short", "22-character"),
        ("https://open.spotify.com/track/4cOdK2wGLETKBW3PvgPWq!", "22-character"),
        ("spotify:track:4cOdK2wGLETKBW3PvgPWqT:extra", "not a Spotify URI"),
        ("https://open.spotify.com/", "does not point at one item"),
        ("https://spotify.link/abcDEF", "short share link"),
    ],
)
def test_bad_links_are_rejected_with_a_message_saying_what_was_expected(text, message):
    with pytest.raises(LinkError, match=message):
        parse_link(text)


def test_several_links_split_on_lines_spaces_and_commas_and_drop_duplicates():
    text = (
        f"spotify:track:{TRACK}\nhttps://open.spotify.com/track/{TRACK}?si=x, spotify:track:{ALBUM}"
    )
    assert [ref.uri for ref in parse_links(text)] == [
        f"spotify:track:{TRACK}",
        f"spotify:track:{ALBUM}",
    ]


def test_a_single_playlist_becomes_a_playlist_source_with_its_embed_url():
    spec = source_spec(links=f"https://open.spotify.com/playlist/{PLAYLIST}?si=1", query="")
    assert spec.kind == "playlist"
    assert spec.refs[0].embed_url == f"https://open.spotify.com/embed/playlist/{PLAYLIST}"


def test_tracks_become_a_track_list_source():
    spec = source_spec(links=f"spotify:track:{TRACK}\nspotify:track:{ALBUM}", query="")
    assert (spec.kind, len(spec.uris)) == ("tracks", 2)


def test_a_query_becomes_a_search_source_with_whitespace_collapsed():
    assert source_spec(links="", query="  lo-fi   chill ").query == "lo-fi chill"


@pytest.mark.parametrize(
    ("links", "query", "message"),
    [
        ("", "", "Give Spotify links"),
        (f"spotify:track:{TRACK}", "chill", "not both"),
        (f"spotify:playlist:{PLAYLIST}\nspotify:track:{TRACK}", "", "expected one playlist"),
        (f"spotify:album:{ALBUM}\nspotify:album:{TRACK}", "", "expected one playlist"),
        ("", "x" * 201, "at most 200"),
    ],
)
def test_impossible_sources_are_rejected(links, query, message):
    with pytest.raises(LinkError, match=message):
        source_spec(links=links, query=query)
