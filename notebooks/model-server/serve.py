"""The inference server: the scikit-learn model saved by the notebook (model.joblib), behind FastAPI.

GET /health -> {"status": "ok"}; POST /predict {"features": [4 numbers]} -> {"label": ..., "probability": ...}.
Started by uvicorn (see the Dockerfile); the port comes from PORT (default 8080), the model file from
MODEL_FILE (default model.joblib, beside this file).
"""

import os
from pathlib import Path

import joblib
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

MODEL = joblib.load(Path(__file__).with_name(os.environ.get("MODEL_FILE", "model.joblib")))
app = FastAPI(title="iris classifier")


class Flower(BaseModel):
    features: list[float]


@app.get("/health")
def health():
    return {"status": "ok", "classes": list(MODEL.classes_)}


@app.post("/predict")
def predict(flower: Flower):
    if len(flower.features) != MODEL.n_features_in_:
        raise HTTPException(422, f"expected {MODEL.n_features_in_} features, got {len(flower.features)}")
    probabilities = MODEL.predict_proba([flower.features])[0]
    best = int(probabilities.argmax())
    return {"label": str(MODEL.classes_[best]), "probability": round(float(probabilities[best]), 3)}
