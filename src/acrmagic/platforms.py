"""A build platform, `os[/architecture[/variant]]`, as one value: parsed once (Docker's names and az's,
lower-cased, aliases such as `x86_64` made `amd64`), shown, recorded as ACR's Run resource records it, and
spelled for the engine. Which platforms a target builds for is the target's to check (`acr_problem`
for ACR; the local engine takes what Docker knows)."""

from __future__ import annotations

from dataclasses import dataclass

from . import acrspec

#: what Docker knows (containerd's platforms package), plus az's `x86`
OPERATING_SYSTEMS = ("linux", "windows", "aix", "android", "darwin", "dragonfly", "freebsd", "illumos", "ios", "js",
                     "netbsd", "openbsd", "plan9", "solaris", "zos")
ARCHITECTURES = ("amd64", "arm64", "386", "arm", "ppc64le", "s390x", "riscv64", "mips64le", "mips64", "mips",
                 "mipsle", "ppc64", "loong64", "wasm", "x86")
ARCH_ALIASES = {"x86_64": "amd64", "x86-64": "amd64", "aarch64": "arm64", "i386": "386", "armhf": "arm",
                "armel": "arm"}
VARIANTS = {"arm": ("v5", "v6", "v7", "v8"), "arm64": ("v8",)}
#: what a run records and ACR builds when no architecture is named (az's default)
DEFAULT_ARCHITECTURE = "amd64"


@dataclass(frozen=True)
class Platform:
    os: str = "linux"
    architecture: str | None = None
    variant: str | None = None

    @classmethod
    def parse(cls, text: str) -> "Platform":
        """`os[/arch[/variant]]` as az and Docker read it; ValueError (a few words, quoting `text`) otherwise."""
        value = text.strip().lower() if isinstance(text, str) else ""
        parts = value.split("/")
        if not value or len(parts) > 3 or not all(parts):
            raise ValueError(f"expected os[/architecture[/variant]] such as linux/amd64, got {text!r}")
        os_name, arch, variant = (parts + [None, None])[:3]
        if os_name not in OPERATING_SYSTEMS:
            raise ValueError(f"unknown operating system {os_name!r} in {text!r} (expected one of "
                             f"{', '.join(OPERATING_SYSTEMS)})")
        arch = ARCH_ALIASES.get(arch, arch)
        if arch is not None and arch not in ARCHITECTURES:
            raise ValueError(f"unknown architecture {parts[1]!r} in {text!r} (expected one of {', '.join(ARCHITECTURES)})")
        if variant is not None and variant not in VARIANTS.get(arch, ()):
            known = VARIANTS.get(arch, ())
            expected = f"expected one of {', '.join(known)}" if known else f"{arch} has no variants"
            raise ValueError(f"unknown variant {variant!r} in {text!r} ({expected})")
        return cls(os_name, arch, variant)

    @classmethod
    def from_json(cls, data: dict | None) -> "Platform":
        """ACR's `platform` object ({os, architecture, variant}); none: the default."""
        data = data or {}
        return cls(data.get("os") or "linux", data.get("architecture") or None, data.get("variant") or None)

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)

    def with_default(self) -> "Platform":
        """The architecture filled in as a run records it and ACR builds it (az's default amd64)."""
        return self if self.architecture else Platform(self.os, DEFAULT_ARCHITECTURE, self.variant)

    def to_json(self) -> dict:
        """As ACR's Run and Task resources record it, the architecture filled in."""
        p = self.with_default()
        return {k: v for k, v in (("os", p.os), ("architecture", p.architecture), ("variant", p.variant)) if v}

    @property
    def engine(self) -> str:
        """As the Docker engine spells it: az's `x86` is Docker's `386`."""
        arch = "386" if self.architecture == "x86" else self.architecture
        return "/".join(p for p in (self.os, arch, self.variant) if p)

    def acr_problem(self) -> str | None:
        """Why ACR would not build for this platform, or None."""
        if (self.os not in acrspec.OSES or (self.architecture and self.architecture not in acrspec.ARCHITECTURES)
                or (self.variant and self.variant not in acrspec.VARIANTS)):
            return (f"{str(self)!r} is not one ACR builds for: os {'|'.join(acrspec.OSES)}, architecture "
                    f"{'|'.join(acrspec.ARCHITECTURES)}, variant {'|'.join(acrspec.VARIANTS)} (e.g. linux/arm64)")
        return None


DEFAULT = Platform("linux", DEFAULT_ARCHITECTURE)
