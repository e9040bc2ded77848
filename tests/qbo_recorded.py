"""Read ../shared/qbo-recorded/ (VCR cassettes of real QBO sandbox traffic) as plain interactions."""

from dataclasses import dataclass
from pathlib import Path

import yaml

RECORDED_DIR = Path(__file__).resolve().parents[2] / "shared" / "qbo-recorded"


@dataclass(frozen=True)
class RecordedInteraction:
    cassette: str
    method: str
    uri: str
    request_body: str
    status: int
    headers: dict[str, str]
    body: str


def recorded_interactions(folder: str) -> list[RecordedInteraction]:
    found = []
    for path in sorted((RECORDED_DIR / folder).glob("*.yml")):
        for item in yaml.safe_load(path.read_text())["http_interactions"]:
            request, response = item["request"], item["response"]
            found.append(
                RecordedInteraction(
                    cassette=f"{folder}/{path.name}",
                    method=request["method"].upper(),
                    uri=request["uri"],
                    request_body=(request.get("body") or {}).get("string") or "",
                    status=int(response["status"]["code"]),
                    headers={k: v[0] if isinstance(v, list) else v for k, v in response["headers"].items()},
                    body=(response.get("body") or {}).get("string") or "",
                )
            )
    return found
