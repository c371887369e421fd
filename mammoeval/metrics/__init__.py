"""Image-set metrics: SWD, MS-SSIM, FID / KID / PRDC, memorization; `registry` describes them all.

Nothing heavy is imported here.
"""
