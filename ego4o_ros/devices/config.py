"""Which device is which site, and how each reports: ``config/devices.yaml``, read here.

The file has named ``conventions`` (``conventions.DeviceConvention`` fields; ``like:``
starts from another one) and ``profiles``, one per app (``imuposer``, ``sensor_logger``):
the wire ``format``, for IMUPoser which stamp is the device ``clock``, and the
``devices``: a ``name``, the ``key`` the wire format names it by (fnmatch patterns:
``left;watch``, ``*/watch``), the ``site`` it is worn at (``core/imu.py`` ``SITES``) and
its ``convention``. Every mistake (an unknown field, site, convention, a site worn twice)
is one line naming the file and the entry.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, fields
from pathlib import Path

import yaml

from ..core.imu import IMU_SITES
from ..paths import config_file
from .conventions import DeviceConvention

FORMATS = ("imuposer", "sensor_logger")
CLOCKS = ("sensor", "unix")
_CONVENTION_FIELDS = {f.name for f in fields(DeviceConvention)}
_DEVICE_FIELDS = {"name", "key", "site", "convention"}


@dataclass(frozen=True)
class DeviceConfig:
    name: str  # how the log and /diagnostics call it
    key: str  # fnmatch pattern of the wire format's device key
    site: str
    convention: DeviceConvention

    def matches(self, key: str) -> bool:
        return fnmatch.fnmatchcase(key, self.key)


@dataclass(frozen=True)
class Profile:
    name: str
    format: str
    devices: tuple[DeviceConfig, ...]
    clock: str = "sensor"  # IMUPoser: "sensor" (CoreMotion's timestamp) or "unix" (the phone's wall clock)

    def device_for(self, key: str) -> DeviceConfig | None:
        return next((d for d in self.devices if d.matches(key)), None)


class DevicesFileError(ValueError):
    pass


def default_devices_file() -> Path:
    return config_file("devices.yaml")


def load_profile(path: str | Path | None, profile: str) -> Profile:
    """The profile ``profile`` of a devices file (None or "": the shipped one)."""
    path = Path(path) if path else default_devices_file()
    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise DevicesFileError(f"{path}: cannot read: {str(error).splitlines()[0]}") from None
    if not isinstance(document, dict):
        raise DevicesFileError(f"{path}: expected 'conventions' and 'profiles'")
    profiles = document.get("profiles") or {}
    if profile not in profiles:
        raise DevicesFileError(f"{path}: no profile {profile!r}; profiles are {sorted(profiles)}")
    conventions = _conventions(path, document.get("conventions") or {})
    return _profile(path, profile, profiles[profile], conventions)


def _conventions(path: Path, entries: dict) -> dict[str, DeviceConvention]:
    resolved: dict[str, DeviceConvention] = {}

    def resolve(name: str, seen: tuple[str, ...] = ()) -> DeviceConvention:
        if name in resolved:
            return resolved[name]
        if name not in entries or name in seen:
            raise DevicesFileError(f"{path}: convention {name!r} is {'circular' if name in seen else 'not defined'}")
        entry = dict(entries[name] or {})
        base = resolve(entry.pop("like"), seen + (name,)).__dict__ if "like" in entry else {}
        unknown = set(entry) - _CONVENTION_FIELDS
        if unknown:
            raise DevicesFileError(
                f"{path}: convention {name}: unknown field {sorted(unknown)[0]!r}; fields: {sorted(_CONVENTION_FIELDS)}"
            )
        values = {**base, **entry}
        for axes in ("sensor_axes", "world_axes"):
            if axes in values:
                values[axes] = tuple(str(a) for a in values[axes])
        if "acc_sign" in values:
            values["acc_sign"] = float(values["acc_sign"])
        try:
            resolved[name] = DeviceConvention(**values)
        except (TypeError, ValueError) as error:
            raise DevicesFileError(f"{path}: convention {name}: {error}") from None
        return resolved[name]

    for name in entries:
        resolve(name)
    return resolved


def _profile(path: Path, name: str, entry: dict, conventions: dict[str, DeviceConvention]) -> Profile:
    where = f"{path}: profile {name}"
    if not isinstance(entry, dict) or entry.get("format") not in FORMATS:
        raise DevicesFileError(f"{where}: 'format' must be one of {list(FORMATS)}")
    clock = entry.get("clock", "sensor")
    if clock not in CLOCKS:
        raise DevicesFileError(f"{where}: 'clock' must be one of {list(CLOCKS)}")
    devices, sites = [], set()
    for i, device in enumerate(entry.get("devices") or []):
        label = f"{where}: device {i + 1}"
        if not isinstance(device, dict):
            raise DevicesFileError(f"{label}: expected name, key, site, convention")
        unknown = set(device) - _DEVICE_FIELDS
        missing = _DEVICE_FIELDS - set(device)
        if unknown or missing:
            problem = f"unknown field {sorted(unknown)[0]!r}" if unknown else f"missing {sorted(missing)[0]!r}"
            raise DevicesFileError(f"{label}: {problem}; fields: {sorted(_DEVICE_FIELDS)}")
        if device["site"] not in IMU_SITES:
            raise DevicesFileError(f"{label}: unknown site {device['site']!r}; sites are {list(IMU_SITES)}")
        if device["site"] in sites:
            raise DevicesFileError(f"{label}: site {device['site']} is worn twice")
        if device["convention"] not in conventions:
            raise DevicesFileError(f"{label}: convention {device['convention']!r} is not defined")
        sites.add(device["site"])
        devices.append(
            DeviceConfig(str(device["name"]), str(device["key"]), device["site"], conventions[device["convention"]])
        )
    if not devices:
        raise DevicesFileError(f"{where}: no devices")
    return Profile(name, entry["format"], tuple(devices), clock)
