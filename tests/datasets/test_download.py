"""Downloads against a local HTTP server: resume after a dropped connection, checksums, no network."""

import hashlib
import http.server
import pickle
import socket
import threading
import time

import numpy as np
import pytest
from fixtures import write_neorl2

import offrl.datasets as D
from offrl.datasets.download import NoConnectionError, download
from offrl.errors import DataIntegrityError, DownloadError

PAYLOAD = bytes(np.random.default_rng(0).integers(0, 256, 300_000, dtype=np.uint8))


class _Handler(http.server.BaseHTTPRequestHandler):
    files: dict = {}
    drop_first: set = set()
    requests: list = []

    def log_message(self, *a):
        pass

    def do_GET(self):
        body = self.files.get(self.path)
        rng = self.headers.get("Range")
        self.requests.append((self.path, rng))
        if body is None:
            self.send_error(404)
            return
        start = int(rng.split("=")[1].split("-")[0]) if rng else 0
        self.send_response(206 if rng else 200)
        if rng:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        if self.path in self.drop_first:
            # send a third of the file, then drop the connection mid-body
            self.drop_first.discard(self.path)
            self.wfile.write(body[start:start + len(body) // 3])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(body[start:])


@pytest.fixture
def server():
    _Handler.files, _Handler.drop_first, _Handler.requests = {}, set(), []
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}", _Handler
    srv.shutdown()
    srv.server_close()


def test_resume_after_drop(tmp_path, server):
    url, h = server
    h.files["/f.bin"] = PAYLOAD
    h.drop_first.add("/f.bin")
    sha = "sha256:" + hashlib.sha256(PAYLOAD).hexdigest()
    out = download(url + "/f.bin", tmp_path / "f.bin", checksum=sha, progress=False)
    assert out.read_bytes() == PAYLOAD
    assert h.requests[0] == ("/f.bin", None) and h.requests[1][1] == f"bytes={len(PAYLOAD) // 3}-"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.bin"]


def test_wrong_checksum_moved_aside(tmp_path, server):
    url, h = server
    h.files["/f.bin"] = PAYLOAD
    with pytest.warns(UserWarning, match="moved aside"), pytest.raises(DataIntegrityError, match="checksum"):
        download(url + "/f.bin", tmp_path / "f.bin", checksum="md5:" + "0" * 32, progress=False)
    names = [p.name for p in tmp_path.iterdir()]
    assert "f.bin" not in names and any(n.startswith("f.bin.part.corrupt") for n in names)


def test_corrupt_existing_file_is_replaced(tmp_path, server):
    url, h = server
    h.files["/f.bin"] = PAYLOAD
    (tmp_path / "f.bin").write_bytes(b"garbage")
    md5 = "md5:" + hashlib.md5(PAYLOAD).hexdigest()
    with pytest.warns(UserWarning, match="moved aside"):
        download(url + "/f.bin", tmp_path / "f.bin", checksum=md5, progress=False)
    assert (tmp_path / "f.bin").read_bytes() == PAYLOAD


def test_no_network_is_fast_and_clear(tmp_path):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    t = time.monotonic()
    with pytest.raises(DownloadError, match="cannot download") as e:
        download(f"http://127.0.0.1:{port}/x.hdf5", tmp_path / "x.hdf5", progress=False)
    assert time.monotonic() - t < 5
    assert list(tmp_path.iterdir()) == []
    # told apart from other failures, so that a caller can stop asking the same host for more files
    assert isinstance(e.value, NoConnectionError)
    assert (e.value.url, e.value.dest) == (f"http://127.0.0.1:{port}/x.hdf5", tmp_path / "x.hdf5") and e.value.reason
    again = pickle.loads(pickle.dumps(e.value))                # as it comes back from a worker process
    assert (str(again), again.dest) == (str(e.value), e.value.dest)


def test_http_error(tmp_path, server):
    url, _ = server
    with pytest.raises(DownloadError, match="404"):
        download(url + "/missing", tmp_path / "m", progress=False)


def test_registry_download_then_load(tmp_path, server, monkeypatch):
    import dataclasses

    import offrl.datasets.registry as R

    url, h = server
    src = tmp_path / "src.npz"
    write_neorl2(src, np.random.default_rng(1), task_dims=(6, 2))
    body = src.read_bytes()
    h.files["/DMSD/DMSD-train.npz"] = body
    h.drop_first.add("/DMSD/DMSD-train.npz")
    info = R.DATASETS["neorl2/DMSD-train"]
    md5 = "md5:" + hashlib.md5(body).hexdigest()
    patched = dataclasses.replace(info, files=(("neorl2/DMSD-train.npz", url + "/DMSD/DMSD-train.npz", md5),))
    monkeypatch.setitem(R.DATASETS._entries, "neorl2/DMSD-train", patched)
    with pytest.raises(D.api.OffrlError, match="download=True"):
        D.load("neorl2/DMSD-train")
    ds = D.load("neorl2/DMSD-train", download=True)
    assert len(ds) == 16 and ds.spec.id == "neorl2/DMSD-train"
    assert D.verify("neorl2/DMSD-train") == []
    cached = tmp_path / "offrl-data" / "neorl2" / "DMSD-train.npz"
    b = bytearray(cached.read_bytes())
    b[100] ^= 1
    cached.write_bytes(bytes(b))
    assert D.verify("neorl2/DMSD-train")


def test_many_downloads_go_on_after_a_failure_and_ask_an_unreachable_host_once(tmp_path, server, monkeypatch, capsys):
    """`offrl datasets download A B C`, and the sweep launcher's --download, share one implementation: a 404
    does not stop the others, a host that refuses is asked once for all its files, the exit code says so."""
    import dataclasses

    import offrl.datasets.api as api
    import offrl.datasets.registry as R
    from offrl.cli import main as offrl_main
    from offrl.sweep.plan import get_missing_data

    url, h = server
    src = tmp_path / "src.npz"
    write_neorl2(src, np.random.default_rng(1), task_dims=(6, 2))
    h.files["/DMSD/DMSD-train.npz"] = src.read_bytes()
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    dead = f"127.0.0.1:{s.getsockname()[1]}"
    s.close()
    served = {"neorl2/DMSD-train": url + "/DMSD/DMSD-train.npz", "neorl2/DMSD-val": url + "/DMSD/gone.npz"}
    refused = {"d4rl/hopper-medium-v2": f"http://{dead}/a.hdf5", "d4rl/walker2d-medium-v2": f"http://{dead}/b.hdf5"}
    for ds_id, u in {**served, **refused}.items():
        (rel, _, checksum), = R.DATASETS[ds_id].files
        monkeypatch.setitem(R.DATASETS._entries, ds_id, dataclasses.replace(R.DATASETS[ds_id], files=((rel, u, None),)))
    started = []
    real = api.download_dataset
    monkeypatch.setattr(api, "download_dataset", lambda i, **kw: started.append(i) or real(i, **kw))

    assert offrl_main(["datasets", "download", *refused, *served]) == 1
    out, err = capsys.readouterr()
    assert started == ["d4rl/hopper-medium-v2", "neorl2/DMSD-train", "neorl2/DMSD-val"]  # walker2d: not asked
    assert out.strip() == f"neorl2/DMSD-train: {tmp_path / 'offrl-data' / 'neorl2' / 'DMSD-train.npz'}"
    assert err.count(f"cannot download: no connection to {dead}") == 1
    assert "the 1 other download(s) from there were not tried" in err
    for ds_id in refused:
        assert f"{ds_id}: not downloaded: no connection to {dead}" in err
    assert "neorl2/DMSD-val: not downloaded: " in err and "404" in err

    started.clear()
    lines = get_missing_data([*refused, *served], download=True, progress=False)
    out = capsys.readouterr().out
    assert started == ["d4rl/hopper-medium-v2", "neorl2/DMSD-val"]  # the present one is not fetched again
    assert out.count(f"no connection to {dead}") == 1 and out.count("downloading ") == 2
    assert len(lines) == 3 and all(ln.endswith(f"(not downloaded: no connection to {dead})") for ln in lines[:2])
    assert lines[2].startswith("neorl2/DMSD-val: missing") and "(download failed: " in lines[2]
    # an unknown id is refused with a suggestion before anything downloads
    started.clear()
    assert offrl_main(["datasets", "download", "neorl2/DMSD-trian", *served]) != 0
    assert "did you mean 'neorl2/DMSD-train'" in capsys.readouterr().err and started == []
