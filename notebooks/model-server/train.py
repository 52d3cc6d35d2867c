"""Train the tutorials' model and write what the image needs, as the tutorials' notebook cells do.

    python train.py [FOLDER]     (FOLDER defaults to this file's folder)

writes model.joblib (a scikit-learn pipeline trained on the iris data set that ships with
scikit-learn), requirements.txt (pinned to this Python's versions, so the image unpickles the model
with the same scikit-learn and numpy) and sample.json (a held-out flower and the label the model gives
it, which the smoke test posts to the served model). `./dev demo` runs it before building.
"""

import json
import sys
from pathlib import Path

import joblib
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import acrmagic


def main(folder: Path) -> None:
    iris = load_iris()
    X_train, X_test, y_train, y_test = train_test_split(
        iris.data, iris.target_names[iris.target], test_size=0.2, random_state=0, stratify=iris.target)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X_train, y_train)
    print(f"accuracy on held-out flowers: {model.score(X_test, y_test):.2f}")
    joblib.dump(model, folder / "model.joblib")
    acrmagic.requirements("scikit-learn", "fastapi", "uvicorn", path=folder / "requirements.txt")
    i = list(y_test).index("versicolor")  # a held-out flower of the middle class: not the easiest one
    sample = [float(x) for x in X_test[i]]
    (folder / "sample.json").write_text(json.dumps({"features": sample, "expected": model.predict([sample])[0]}))


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent)
