"""Two releases of the same build: items, gold and rendered-prompt sha256 per task compared (issue 12:
format 1 vs format 2 must read the same).  python bench/release_prompts.py OLD_RELEASE NEW_RELEASE"""
import hashlib
import sys

from medbench.io import canonical_json
from medbench.release import open_release
from medbench.tasks import get_family

a, b = open_release(sys.argv[1]), open_release(sys.argv[2])
print("formats", a.manifest.get("release_format"), b.manifest.get("release_format"))
for t in a.tasks():
    ia, ib = a.items(t), b.items(t)
    fam = get_family(t)
    ha = [hashlib.sha256(canonical_json(fam.render_prompt(x, a)).encode()).hexdigest() for x in ia]
    hb = [hashlib.sha256(canonical_json(fam.render_prompt(x, b)).encode()).hexdigest() for x in ib]
    print(t, len(ia), "items equal:", ia == ib, "gold equal:", a.gold(t) == b.gold(t), "prompt sha256 equal:", ha == hb)
