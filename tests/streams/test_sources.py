"""AAC and HLS stations, as VOV and provincial stations send them: the health check names their
codec and bitrate (real ffmpeg stations, real ffprobe)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from controller.domain.seed import SeededCommune
from controller.domain.sources import is_hls
from controller.services.hubs import relay_argv
from tests.controller.conftest import app_client, settings  # noqa: F401 - fixtures
from tests.streams.tone import HlsStation, ToneStation


def _health(client: TestClient, url: str, name: str) -> dict:
    r = client.post("/api/v1/stream-sources", json={"name": name, "url": url})
    assert r.status_code == 201, r.text
    return r.json()["health"]


def test_aac_and_hls_sources_report_their_codec_and_bitrate(
    app_client: tuple[TestClient, SeededCommune],  # noqa: F811
    station: ToneStation,
    hls: HlsStation,
):
    client, _ = app_client
    aac = _health(client, station.path_url("/tone.aac"), "VOV1 AAC")
    assert aac["reachable"] is True and aac["error"] is None
    assert (aac["content_type"], aac["codec"]) == ("audio/aac", "aac")
    assert 40_000 <= aac["bitrate"] <= 60_000, aac  # 48 kb/s AAC, ADTS headers included

    playlist = _health(client, hls.url, "Đài tỉnh HLS")
    assert playlist["reachable"] is True and playlist["error"] is None
    assert (playlist["content_type"], playlist["codec"]) == (
        "application/vnd.apple.mpegurl",
        "aac",
    )
    # HLS does not declare it: measured from the audio packets, MPEG-TS overhead excluded
    assert playlist["bitrate"] is not None and 40_000 <= playlist["bitrate"] <= 60_000, playlist

    other_type = _health(client, hls.url + "?type=audio/mpegurl", "Đài tỉnh HLS 2")
    assert other_type["reachable"] is True
    assert (other_type["content_type"], other_type["codec"]) == ("audio/mpegurl", "aac")


def test_hls_is_read_in_real_time_by_the_relay_hub():
    assert is_hls("http://radio.example/live/playlist.m3u8")
    assert is_hls("http://radio.example/live", "application/vnd.apple.mpegurl; charset=utf-8")
    assert is_hls("http://radio.example/live", "audio/x-mpegurl")
    assert not is_hls("http://radio.example/vov1.aac", "audio/aac")
    assert not is_hls("http://radio.example/vov1", "audio/mpeg")
    assert "-re" in relay_argv("http://radio.example/live.m3u8", hls=True)
    assert "-re" not in relay_argv("http://radio.example/vov1.mp3")
