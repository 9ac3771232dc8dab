#!/usr/bin/env python3
"""Renders examples/scene.png, strata's bundled example: a synthetic 480x320 scene with smooth
gradients, strong edges and fine textures (what peeling and edge-preserving filters act on).
Pure Python + zlib; deterministic. Run: python3 examples/make_scene.py"""
import math
import os
import random
import struct
import zlib

W, H = 480, 320
rng = random.Random(2026)
noise = [[rng.random() for _ in range(W)] for _ in range(H)]


def sky(x, y):
    t = y / H
    return (70 + 90 * t, 130 + 70 * t, 220 - 20 * t)


def mountain_height(x):
    return 150 + 35 * math.sin(x / 47.0) + 18 * math.sin(x / 13.0 + 1.3)


def pixel(x, y):
    r, g, b = sky(x, y)
    if (x - 380) ** 2 + (y - 60) ** 2 < 28 ** 2:  # sun
        r, g, b = 250, 220, 120
    if y > mountain_height(x):  # mountains with stripes of rock texture
        shade = 0.8 + 0.2 * math.sin(x / 3.0 + y / 5.0)
        r, g, b = 95 * shade, 90 * shade, 100 * shade
    if y > 215:  # grass: fine high-frequency texture
        n = noise[y][x]
        r, g, b = 60 + 40 * n, 120 + 60 * n, 40 + 20 * n
    if 90 <= x < 210 and 170 <= y < 260:  # house wall with brick pattern
        brick = ((y - 170) % 12 == 0) or ((x + 10 * ((y - 170) // 12 % 2)) % 20 == 0)
        r, g, b = (150, 140, 130) if brick else (190, 80, 60)
        if 115 <= x < 145 and 190 <= y < 220 or 160 <= x < 190 and 190 <= y < 220:  # windows
            r, g, b = (230, 230, 180) if (x % 15 and y % 15) else (60, 40, 30)
    if 80 <= x < 220 and 120 + abs(x - 150) * 0.7 <= y < 170:  # roof
        r, g, b = 120, 40, 35
    return tuple(max(0, min(255, int(round(v)))) for v in (r, g, b))


def png(width, height, rows):
    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    raw = b"".join(b"\x00" + bytes(r) for r in rows)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 9)) +
            chunk(b"IEND", b""))


rows = []
for y in range(H):
    row = []
    for x in range(W):
        row.extend(pixel(x, y))
    rows.append(row)
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "scene.png")
with open(out, "wb") as f:
    f.write(png(W, H, rows))
print("wrote", out)
