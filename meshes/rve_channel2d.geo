// rve_channel2d.geo -- 2D periodic RVE of one pore with a constriction: a channel along
// x whose width varies smoothly, between two solid walls.
//
// Frame: cell [0,L]x[0,H] in the z=0 plane, corner at the origin; lengths in one common,
// arbitrary unit.
//
// Pore: the channel  H/2 - w(x)/2 < y < H/2 + w(x)/2  with the width
//     w(x) = w (1 + delta cos(2 pi x / L)),
// widest (w (1 + delta)) on the sides x = 0, L and narrowest (w (1 - delta), the throat)
// at x = L/2; its mean is w, so the porosity is w/H. delta = 0 is a straight pore. Each
// wall is a spline through n_wall + 1 points of w(x). Along the channel the pore
// percolates; across it (y) it does not. Parsing stops with an Error unless
// 0 <= delta < 1 and w (1 + delta) < H (solid walls of positive thickness).
// 1D (lubrication) estimate of the effective diffusivity along x, for L >> w: the channel
// is a series of slices, so D_eff,xx = D (1/H) <1/w>^-1 (harmonic mean of the width),
// = D (w/H) sqrt(1 - delta^2) for this profile: tau_x = 1/sqrt(1 - delta^2).
//
// Physical groups:
//   surfaces (2): "pore" (the channel), "solid" (both walls)
//   curves   (1): "left" (x=0), "right" (x=L), "bottom" (y=0), "top" (y=H)
// Periodic mesh: right = left + (L,0); top = bottom + (0,H).
//
// Built-in kernel.

DefineConstant[
  L = {1, Min 0.01, Max 100, Name "Parameters/L"},                // cell length along the channel
  H = {1, Min 0.01, Max 100, Name "Parameters/H"},                // cell height
  w = {0.5, Min 0.001, Max 100, Name "Parameters/w"},             // mean channel width
  delta = {0.5, Min 0, Max 0.99, Name "Parameters/delta"},        // relative width amplitude [-]
  n_wall = {40, Min 4, Max 1000, Step 1, Name "Parameters/n_wall"}, // spline segments per wall
  h = {0.04, Min 0.0005, Max 1, Name "Parameters/h"}              // characteristic mesh size
];

If (delta < 0 || delta >= 1 || w * (1 + delta) >= H)
  Error("rve_channel2d.geo: need 0 <= delta < 1 and w (1 + delta) < H (w = %g, delta = %g, H = %g)", w, delta, H);
EndIf

// ---- outer corners and wall points ------------------------------------------------
Point(1) = {0, 0, 0, h};
Point(2) = {L, 0, 0, h};
Point(3) = {L, H, 0, h};
Point(4) = {0, H, 0, h};
lower() = {};
upper() = {};
For k In {0:n_wall}
  x = L * k / n_wall;
  half = w * (1 + delta * Cos(2 * Pi * k / n_wall)) / 2;
  pl = newp;
  Point(pl) = {x, H / 2 - half, 0, h};
  lower() += {pl};
  pu = newp;
  Point(pu) = {x, H / 2 + half, 0, h};
  upper() += {pu};
EndFor
n = n_wall;

// ---- curves: opposite sides with the same orientation (periodic copies) ---------
Line(1) = {1, 2};                        // bottom
Line(2) = {4, 3};                        // top
Line(3) = {1, lower(0)};                 // left, solid below
Line(4) = {lower(0), upper(0)};          // left, pore
Line(5) = {upper(0), 4};                 // left, solid above
Line(6) = {2, lower(n)};                 // right, solid below
Line(7) = {lower(n), upper(n)};          // right, pore
Line(8) = {upper(n), 3};                 // right, solid above
Spline(9) = {lower()};                   // lower wall
Spline(10) = {upper()};                  // upper wall

Curve Loop(1) = {1, 6, -9, -3};
Plane Surface(1) = {1};                  // solid below
Curve Loop(2) = {9, 7, -10, -4};
Plane Surface(2) = {2};                  // pore
Curve Loop(3) = {10, 8, -2, -5};
Plane Surface(3) = {3};                  // solid above

Periodic Curve {6, 7, 8} = {3, 4, 5} Translate {L, 0, 0};
Periodic Curve {2} = {1} Translate {0, H, 0};

Physical Surface("pore") = {2};
Physical Surface("solid") = {1, 3};
Physical Curve("left") = {3, 4, 5};
Physical Curve("right") = {6, 7, 8};
Physical Curve("bottom") = {1};
Physical Curve("top") = {2};
