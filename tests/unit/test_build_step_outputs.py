"""The build step's outputs in GitHub Actions: the release id the deploy jobs deploy, and the
image's name and digest the attest job attests (only for an image pushed by digest)."""

from gates.release.build import step_outputs

DIGEST = "sha256:" + "a" * 64


def test_a_pushed_image_gives_its_name_and_digest():
    image = {"built": True, "reference": f"registry.example.com:5000/techcorp-api@{DIGEST}"}
    assert step_outputs("0123456789abcdef", image).splitlines() == [
        "release_id=0123456789abcdef",
        "image_name=registry.example.com:5000/techcorp-api",
        f"image_digest={DIGEST}",
    ]


def test_no_image_in_a_registry_gives_the_release_id_only():
    assert step_outputs("0123456789abcdef", {"built": False, "reason": "no engine"}) == (
        "release_id=0123456789abcdef\n"
    )
    assert step_outputs("0123456789abcdef", {"built": True, "tag": "techcorp-api:0123"}) == (
        "release_id=0123456789abcdef\n"
    )
