"""Where runs go. `choose()` picks the target of a new run; `from_record()` finds a recorded run's
target again (to cancel it, or to read its log from ACR).

    base.py     the seam every target implements (Target, RunHandle, Outcome)
    local/      the local Docker engine with BuildKit
    acr/        an Azure Container Registry's Tasks, through the Azure SDKs (or the emulator)
"""

from __future__ import annotations

from .. import config, refs
from .base import Target


def resolve(registry: str | None = None, chosen: dict | None = None) -> dict:
    """The target of a new run, as a config dict: `-r REGISTRY` on one command overrides what
    `acrmagic use` / ACRMAGIC_TARGET chose: a registry address runs locally, an ACR name in ACR."""
    chosen = dict(chosen if chosen is not None else config.chosen_target())
    if registry is None:
        return chosen
    refs.check_registry(registry, "-r/--registry")
    if not refs.is_acr_name(registry):  # `-r localhost:5000`, a registry address: the local engine
        return {"kind": "local", "registry": registry}
    base = chosen if chosen.get("kind") == "acr" else {"kind": "acr"}
    return {**base, "registry": registry.split(".")[0]}


def from_config(chosen: dict) -> Target:
    if chosen.get("kind") == "acr":
        from .acr import AcrTarget  # the Azure SDKs: only when a run goes to ACR

        return AcrTarget.from_config(chosen)
    from .local import LocalTarget

    return LocalTarget(chosen.get("registry"))


def choose(registry: str | None = None) -> Target:
    """The target of a new run."""
    return from_config(resolve(registry))


def from_record(target: dict, registry: str | None = None) -> Target:
    """The target a run was recorded with (`Run.target`; older records: the local engine)."""
    if not target:
        target = {"kind": "local", "registry": registry}
    return from_config(target)


def describe(chosen: dict) -> str:
    """One line: where runs go now (without connecting to anything)."""
    if chosen.get("kind") != "acr":
        return f"runs go to the local Docker engine; images are pushed to {chosen.get('registry') or config.default_registry()}"
    identity = chosen.get("identity")
    credential = ("managed identity (system-assigned)" if identity == "system" else
                  f"managed identity {identity}" if identity else "DefaultAzureCredential (az login, environment, "
                  "managed identity)")
    where = f"ACR registry {chosen.get('registry') or '(the emulator default)'}"
    if chosen.get("emulatorConfig"):
        return f"runs go to {where} in the ACR emulator described by {chosen['emulatorConfig']}"
    group = chosen.get("resourceGroup") or "looked up from the registry"
    subscription = chosen.get("subscription") or "the default subscription"
    return f"runs go to {where} (resource group {group}, {subscription}); credential: {credential}"
