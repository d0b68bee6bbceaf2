"""python-plexapi against a (fake) Plex server.

`check URL TOKEN`: connect as python-plexapi does (it first requests `/`, without asking for
JSON), read /identity, list the library; then do what a sync script does, each step read back
afterwards: search by title, get, fetchItem with every tag, edit with lock and unlock, add and
remove tags (one with a comma and an ampersand in it), edit two items at once, a partial scan,
TV shows and their episodes, hub search. Prints what it saw as JSON; a step that goes wrong
prints its error under "errors" instead of stopping the rest.
`bench URL TOKEN N`: times N calls of server.query('/identity'); prints latencies in ms.
"""

import json
import sys
import time
import traceback

from plexapi.server import PlexServer


def check(url, token):
    server = PlexServer(url, token)
    identity = server.query("/identity")
    sections = server.library.sections()
    movies_section = server.library.section("Movies")
    movies = movies_section.all()
    seen = {
        "friendlyName": server.friendlyName,
        "machineIdentifier": server.machineIdentifier,
        "version": server.version,
        "identity_version": identity.attrib.get("version"),
        "sections": [[s.key, s.type, s.title, s.locations] for s in sections],
        "movies": sorted(m.title for m in movies),
        "files": sorted(p.file for m in movies for p in m.iterParts()),
        "errors": {},
    }

    def step(name, action):
        try:
            seen[name] = action()
        except Exception:  # noqa: BLE001 - every failure is reported, none stops the rest
            seen["errors"][name] = traceback.format_exc(limit=3)

    step("search_title", lambda: [m.title for m in movies_section.search(title="Sintel")])
    step("get", lambda: movies_section.get("Sintel").title)

    def whole_item():
        item = server.fetchItem(108)
        return {
            "title": item.title,
            "genres": [g.tag for g in item.genres],
            "directors": [d.tag for d in item.directors],
            "writers": [w.tag for w in item.writers],
            "producers": [p.tag for p in item.producers],
            "countries": [c.tag for c in item.countries],
            "roles": len(item.roles),
            "similar": len(item.similar),
            "streams": len(item.media[0].parts[0].streams),
        }

    step("fetch_item", whole_item)

    def lock_and_unlock():
        item = server.fetchItem(57)
        item.editTitle("Sintel (edited)", locked=True)
        item.reload()
        after_lock = (item.title, item.isLocked("title"))
        item.editTitle("Sintel", locked=False)
        item.reload()
        return [list(after_lock), [item.title, item.isLocked("title")]]

    step("edit_lock_unlock", lock_and_unlock)

    def add_and_remove_tags():
        item = server.fetchItem(108)
        item.addGenre(["Road Movie", "Drama, Dark & Deep"])
        item.reload()
        added = sorted(g.tag for g in item.genres)
        item.removeGenre(["Drama, Dark & Deep", "Fantasy"])
        item.reload()
        removed = sorted(g.tag for g in item.genres)
        return {"added": added, "removed": removed, "locked": item.isLocked("genre")}

    step("tags", add_and_remove_tags)

    def multi_edit():
        items = [server.fetchItem(55), server.fetchItem(56)]
        movies_section.multiEdit(items, **{"studio.value": "Blender", "studio.locked": 1})
        return sorted(server.fetchItem(k).studio for k in (55, 56))

    step("multi_edit", multi_edit)

    def partial_scan():
        movies_section.update(path="/data/Movies/New Arrivals")
        return [m.title for m in movies_section.search(title="Big Buck Bunny 2")]

    step("partial_scan", partial_scan)

    def tv():
        shows = server.library.section("TV Shows").all()
        episode = server.fetchItem(90)
        show = episode.show()
        return {
            "shows": sorted(s.title for s in shows),
            "episode_show": show.title,
            "seasons": [s.title for s in show.seasons()],
            "episodes": [e.title for e in show.episodes()],
        }

    step("tv", tv)
    step("hub_search", lambda: sorted(h.title for h in server.search("Sintel")))
    step(
        "library_search",
        lambda: sorted(m.title for m in server.library.search(title="dream", libtype="movie")),
    )
    return seen


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
