#!/usr/bin/env python3
"""MovieLens-100K (RecBole's atomic files) as userrep events, with the mapping documented.

Usage: convert_movielens.py DATA_DIR OUT_DIR
  DATA_DIR holds ml-100k.inter, ml-100k.item, ml-100k.user (fetch_movielens.sh; never committed).
  OUT_DIR gets listens.jsonl, onboarding.jsonl, content.jsonl and settings.env (vocabularies, split).

Mapping (MovieLens has no artists, countries, devices or onboarding):
  - each rating is one listen of track "m<item>" by user "u<user>" at its timestamp;
  - timestamps move forward by exactly 10227 days (28 years, weekdays kept: 1997-12-01 becomes
    2025-12-01), because the worker rejects event times before 2000;
  - a movie's first genre is its "artist"; its content vector ("audio" slot) is the 19-genre
    multi-hot plus (release year - 1990) / 10 (0 when unknown);
  - the user's occupation is their "country" (on every listen and on their onboarding event);
  - sign-up is one onboarding event a second before the user's first rating, with no artist
    picks (everyone "skips") and the user's age band as their one "language".
Standard library only.
"""
import json
import os
import sys

SHIFT_MS = 10227 * 86_400_000
GENRES = ["unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama", "Fantasy",
          "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western"]
AGE_BANDS = [(18, "age-under-18"), (25, "age-18-24"), (35, "age-25-34"), (45, "age-35-44"), (50, "age-45-49"), (56, "age-50-55"),
             (200, "age-56-plus")]


def rows(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        header = f.readline().rstrip("\n").split("\t")
        names = [h.split(":")[0] for h in header]
        for line in f:
            line = line.rstrip("\n")
            if line:
                yield dict(zip(names, line.split("\t")))


def age_band(age):
    return next(name for limit, name in AGE_BANDS if age < limit)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    data, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    users = {r["user_id"]: r for r in rows(os.path.join(data, "ml-100k.user"))}
    ratings = sorted(
        ((int(float(r["timestamp"])) * 1000 + SHIFT_MS, r["user_id"], r["item_id"]) for r in rows(os.path.join(data, "ml-100k.inter"))))
    first = {}
    for t, u, _ in ratings:
        first.setdefault(u, t)

    def write(name, lines):
        tmp = os.path.join(out, "." + name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            for line in lines:
                f.write(json.dumps(line, separators=(",", ":")) + "\n")
        os.replace(tmp, os.path.join(out, name))

    write("listens.jsonl", ({"user_id": "u" + u, "track_id": "m" + i, "timestamp_ms": t, "country": users[u]["occupation"]}
                            for t, u, i in ratings))
    write("onboarding.jsonl", ({"user_id": "u" + u, "timestamp_ms": t - 1000, "artist_ids": [],
                                "languages": [age_band(int(users[u]["age"]))], "country": users[u]["occupation"]}
                               for u, t in sorted(first.items(), key=lambda kv: kv[1])))

    def content(r):
        genres = r.get("class", "").split()
        year = r.get("release_year", "")
        vector = [1.0 if g in genres else 0.0 for g in GENRES] + [(int(year) - 1990) / 10 if year.isdigit() else 0.0]
        return {"track_id": "m" + r["item_id"], "artist_id": "genre-" + (genres[0] if genres else "unknown"), "content": vector}

    write("content.jsonl", (content(r) for r in rows(os.path.join(data, "ml-100k.item"))))
    occupations = sorted({u["occupation"] for u in users.values()})
    with open(os.path.join(out, "settings.env"), "w", encoding="utf-8") as f:
        f.write("COUNTRIES=%s\nLANGUAGES=%s\nAUDIO_DIMS=%d\nCOLLABORATIVE_DIMS=32\nBATCH=ml100k-emb-1\nNAME=ml100k\n"
                % (",".join(occupations), ",".join(n for _, n in AGE_BANDS), len(GENRES) + 1))
        # 1997-12-01 before the shift: 426 users have ratings before it, 44 of them in the week after.
        f.write("SPLIT=2025-12-01T00:00:00Z\n")
    print("%d listens of %d users on %d movies -> %s" % (len(ratings), len(first), sum(1 for _ in rows(os.path.join(data, "ml-100k.item"))), out))


if __name__ == "__main__":
    main()
