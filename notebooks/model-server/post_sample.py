"""Post the held-out sample (sample.json) to the served model and check its answer.

    python3 post_sample.py URL      e.g. http://serve:8080

Waits up to 30 s for /health, posts the sample's features to /predict, prints the answer, and exits 1
when the label is not the one the notebook's model gave (standard library only: it runs in the base image).
"""

import json
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

url = sys.argv[1].rstrip("/")
sample = json.loads((Path(__file__).parent / "sample.json").read_text())
deadline = time.monotonic() + 30
while True:
    try:
        urllib.request.urlopen(f"{url}/health", timeout=2).read()
        break
    except (urllib.error.URLError, OSError) as e:
        if time.monotonic() > deadline:
            sys.exit(f"error: {url}/health did not answer in 30 s: {e}")
        time.sleep(0.5)
request = urllib.request.Request(f"{url}/predict", data=json.dumps({"features": sample["features"]}).encode(),
                                 headers={"Content-Type": "application/json"})
answer = json.loads(urllib.request.urlopen(request, timeout=10).read())
print(json.dumps(answer))
if answer["label"] != sample["expected"]:
    sys.exit(f"error: predicted {answer['label']!r}, the notebook's model says {sample['expected']!r}")
