"""python-plexapi against a (fake) Plex server.

`check URL TOKEN`: connect as python-plexapi does (it first requests `/`, without asking for
JSON), read /identity, list the library; prints what it saw as JSON.
`bench URL TOKEN N`: times N calls of server.query('/identity'); prints latencies in ms.
"""

import json
import sys
import time

from plexapi.server import PlexServer


def check(url, token):
    server = PlexServer(url, token)
    identity = server.query("/identity")
    sections = server.library.sections()
    movies = sections[0].all()
    return {
        "friendlyName": server.friendlyName,
        "machineIdentifier": server.machineIdentifier,
        "version": server.version,
        "identity_version": identity.attrib.get("version"),
        "sections": [[s.key, s.type, s.title, s.locations] for s in sections],
        "movies": sorted(m.title for m in movies),
        "files": sorted(p.file for m in movies for p in m.iterParts()),
    }


def bench(url, token, n):
    server = PlexServer(url, token)
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        server.query("/identity")
        samples.append((time.perf_counter() - start) * 1000)
    return {"ms": samples}


if __name__ == "__main__":
    mode, url, token = sys.argv[1:4]
    if mode == "check":
        result = check(url, token)
    else:
        result = bench(url, token, int(sys.argv[4]))
    print(json.dumps(result))
