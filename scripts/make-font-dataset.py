#!/usr/bin/env python3
"""A labelled PNG-folder data set made from this machine's fonts: the letters A-Z (26 classes),
each image a letter drawn white on black in a random installed TrueType font (DejaVu here), at a
random size, rotation and offset, 64x64 grey. Seeded: the same seed and fonts give the same files.

    python3 scripts/make-font-dataset.py OUT [--per-class 150] [--seed 0] [--side 64]

Needs Pillow (python3 -m pip install pillow). Fonts: every .ttf under /usr/share/fonts
(or --fonts DIR).
"""
import argparse
import pathlib
import random
import string

from PIL import Image, ImageDraw, ImageFont


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out")
    ap.add_argument("--per-class", type=int, default=150)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--side", type=int, default=64)
    ap.add_argument("--fonts", default="/usr/share/fonts")
    args = ap.parse_args()
    fonts = sorted(p for p in pathlib.Path(args.fonts).rglob("*.ttf") if "Math" not in p.name)
    if not fonts:
        raise SystemExit(f"no .ttf fonts under {args.fonts}")
    rng = random.Random(args.seed)
    out = pathlib.Path(args.out)
    side = args.side
    for letter in string.ascii_uppercase:
        folder = out / letter
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(args.per_class):
            font = ImageFont.truetype(str(rng.choice(fonts)), size=int(side * rng.uniform(0.55, 0.8)))
            # draw large on a canvas with room to rotate, then crop the centre
            canvas = Image.new("L", (side * 2, side * 2), 0)
            ImageDraw.Draw(canvas).text((side, side), letter, fill=255, font=font, anchor="mm")
            canvas = canvas.rotate(rng.uniform(-12, 12), resample=Image.BILINEAR)
            dx, dy = rng.randint(-side // 10, side // 10), rng.randint(-side // 10, side // 10)
            left, top = side // 2 + dx, side // 2 + dy
            canvas.crop((left, top, left + side, top + side)).save(folder / f"{letter}-{i:04d}.png")
    print(f"{out}: 26 classes x {args.per_class} images, {side}x{side}, {len(fonts)} fonts, seed {args.seed}")


if __name__ == "__main__":
    main()
