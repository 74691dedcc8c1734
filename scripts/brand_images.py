"""Draw the brand images: the integration's brand/ folder and the add-on's icon and logo.

One drawing, a screen showing dashboard cards with a cast signal in its corner,
at every size Home Assistant's brands proxy and the add-on store ask for, light
and dark. Drawn four times larger and scaled down, for smooth edges. Run inside
the project's environment (Pillow comes with Home Assistant):

    source scripts/_env.sh; in_env python scripts/brand_images.py
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

REPO = Path(__file__).resolve().parent.parent
BRAND = REPO / "custom_components" / "dashboard_cast" / "brand"
ADDON = REPO / "addon"
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
SUPERSAMPLE = 4
NAME = "Dashboard Cast"

# Home Assistant's blue; the screen's glass; the cards; the text on a light or dark page.
LIGHT = {"frame": "#039BE5", "glass": "#0D2B45", "card": "#FFFFFF", "accent": "#4FC3F7"}
DARK = {"frame": "#4FC3F7", "glass": "#0D2B45", "card": "#FFFFFF", "accent": "#81D4FA"}
TEXT = {"light": "#1C1C1C", "dark": "#F1F1F1"}


def icon(size: int, colours: dict[str, str]) -> Image.Image:
    """The square icon: bold shapes that still read at 48 px."""
    s = size * SUPERSAMPLE
    image = Image.new("RGBA", (s, s), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    unit = s / 32  # a 32-unit grid
    # Stand, then the screen's frame and glass.
    draw.rounded_rectangle(
        (11 * unit, 25 * unit, 21 * unit, 28 * unit), radius=unit, fill=colours["frame"]
    )
    draw.rounded_rectangle(
        (1 * unit, 3 * unit, 31 * unit, 25 * unit), radius=3 * unit, fill=colours["frame"]
    )
    draw.rounded_rectangle(
        (3 * unit, 5 * unit, 29 * unit, 23 * unit), radius=1.5 * unit, fill=colours["glass"]
    )
    # Dashboard cards: one wide, two small, one tall.
    cards = [
        (5, 7, 18, 12, colours["card"]),
        (5, 14, 11, 21, colours["accent"]),
        (13, 14, 18, 21, colours["card"]),
        (20, 7, 27, 21, colours["accent"]),
    ]
    for left, top, right, bottom, fill in cards:
        draw.rounded_rectangle(
            (left * unit, top * unit, right * unit, bottom * unit), radius=unit, fill=fill
        )
    # The cast signal: a dot and two arcs rising from the screen's lower left corner.
    corner = (3 * unit, 23 * unit)
    draw.rectangle((0, 19 * unit, 9.5 * unit, 27 * unit), fill=(0, 0, 0, 0))
    draw.ellipse(
        (corner[0] - 2 * unit, corner[1] - 2 * unit, corner[0] + 2 * unit, corner[1] + 2 * unit),
        fill=colours["frame"],
    )
    for radius in (4.5, 7.5):
        draw.arc(
            (
                corner[0] - radius * unit,
                corner[1] - radius * unit,
                corner[0] + radius * unit,
                corner[1] + radius * unit,
            ),
            start=270,
            end=360,
            fill=colours["frame"],
            width=round(1.6 * unit),
        )
    return image.resize((size, size), Image.Resampling.LANCZOS)


def logo(height: int, colours: dict[str, str], text: str) -> Image.Image:
    """The icon and the name beside it, on a transparent background."""
    s = height * SUPERSAMPLE
    font = ImageFont.truetype(FONT, round(s * 0.42))
    left, top, right, bottom = font.getbbox(NAME)
    gap = round(s * 0.18)
    width = s + gap + (right - left) + round(s * 0.08)
    image = Image.new("RGBA", (width, s), (0, 0, 0, 0))
    image.alpha_composite(icon(s // SUPERSAMPLE, colours).resize((s, s)), (0, 0))
    draw = ImageDraw.Draw(image)
    draw.text((s + gap - left, (s - (bottom - top)) / 2 - top), NAME, font=font, fill=text)
    return image.resize((width // SUPERSAMPLE, height), Image.Resampling.LANCZOS)


def main() -> None:
    """Write every image."""
    BRAND.mkdir(exist_ok=True)
    for prefix, colours, text in (("", LIGHT, TEXT["light"]), ("dark_", DARK, TEXT["dark"])):
        icon(256, colours).save(BRAND / f"{prefix}icon.png", optimize=True)
        icon(512, colours).save(BRAND / f"{prefix}icon@2x.png", optimize=True)
        logo(128, colours, text).save(BRAND / f"{prefix}logo.png", optimize=True)
        logo(256, colours, text).save(BRAND / f"{prefix}logo@2x.png", optimize=True)
    # The add-on store: a 128 px square icon, and the logo fitted into 250 x 100.
    icon(128, LIGHT).save(ADDON / "icon.png", optimize=True)
    wide = logo(100, LIGHT, TEXT["light"])
    wide.thumbnail((250, 100), Image.Resampling.LANCZOS)
    addon_logo = Image.new("RGBA", (250, 100), (0, 0, 0, 0))
    addon_logo.alpha_composite(wide, (0, (100 - wide.height) // 2))
    addon_logo.save(ADDON / "logo.png", optimize=True)


if __name__ == "__main__":
    main()
