// rve_random.geo -- 2D periodic RVE: square cell with N random, non-overlapping
// circular inclusions of equal radius.
//
// Frame: cell [0,L]x[0,L] in the z=0 plane, corner at the origin. All lengths
// (L, R, gap, h) are in one common, arbitrary unit (the default cell has side 1);
// R, gap and h are absolute, so a bigger L gives a bigger cell with the same
// inclusion size and mesh density (L=2, N=24: same volume fraction, 4x the cells).
//
// Placement: random sequential addition with rejection. Centres are drawn uniformly
// in [R+gap, L-R-gap]^2 with a Park-Miller "minimal standard" generator written in
// the .geo language (state <- 16807*state mod (2^31-1), exact in double precision),
// seeded by `seed`; a candidate is rejected if it comes closer than `gap` to an
// inclusion already placed. Every inclusion therefore lies fully inside the cell,
// at least `gap` away from the boundary and from the other inclusions, so the
// cell boundary is four straight lines and the periodic mesh is trivial. Parsing
// stops with an Error if N inclusions cannot be placed in `max_attempts` draws.
// The same seed always gives the same microstructure. Volume fraction
// N pi R^2 / L^2 (0.2714 for the defaults, and also for L=2, N=24).
//
// Physical groups:
//   surfaces (2): "matrix", "inclusion" (all inclusions)
//   curves   (1): "left" (x=0), "right" (x=L), "bottom" (y=0), "top" (y=L)
// Periodic mesh: right = left + (L,0); top = bottom + (0,L).
//
// Built-in kernel; each circle is made of four quarter arcs.

DefineConstant[
  L = {1, Min 0.1, Max 100, Name "Parameters/L"},                    // cell side length
  N = {6, Min 1, Max 1000, Step 1, Name "Parameters/N"},             // number of inclusions
  R = {0.12, Min 0.001, Max 10, Step 0.01, Name "Parameters/R"},     // inclusion radius
  gap = {0.03, Min 0, Max 10, Step 0.005, Name "Parameters/gap"},    // min. distance between inclusions and to the cell boundary
  seed = {42, Min 1, Max 2147483646, Step 1, Name "Parameters/seed"},// generator seed (integer 1 .. 2^31-2)
  max_attempts = {20000, Min 1, Step 1, Name "Parameters/max_attempts"}, // max. number of candidate centres drawn
  h = {0.04, Min 0.001, Max 1, Step 0.005, Name "Parameters/h"}      // characteristic mesh size
];

lo = R + gap;
hi = L - R - gap;
If (R <= 0 || gap < 0 || hi < lo)
  Error("rve_random.geo: need R > 0, gap >= 0 and 2*(R+gap) <= L (R = %g, gap = %g, L = %g)", R, gap, L);
EndIf

// ---- Park-Miller minimal standard generator ---------------------------------
M31 = 2147483647;
rng = Fmod(Floor(Fabs(seed)), M31);
If (rng == 0)
  rng = 1;
EndIf
For k In {1:10}  // discard a few draws: small seeds give small first values
  rng = Fmod(16807 * rng, M31);
EndFor

// ---- random sequential addition ----------------------------------------------
xs() = {};
ys() = {};
np = 0;
dmin = 2 * R + gap;
For att In {1:max_attempts}
  If (np < N)
    rng = Fmod(16807 * rng, M31);
    x = lo + (hi - lo) * rng / M31;
    rng = Fmod(16807 * rng, M31);
    y = lo + (hi - lo) * rng / M31;
    ok = 1;
    If (np > 0)
      For j In {0:np - 1}
        If (Sqrt((x - xs(j))^2 + (y - ys(j))^2) < dmin)
          ok = 0;
        EndIf
      EndFor
    EndIf
    If (ok)
      xs() += {x};
      ys() += {y};
      np = np + 1;
    EndIf
  EndIf
EndFor
If (np < N)
  Error("rve_random.geo: placed only %g of %g inclusions in %g attempts (lower N, R or gap, or raise max_attempts / change seed)", np, N, max_attempts);
EndIf

// ---- geometry ------------------------------------------------------------------
Point(1) = {0, 0, 0, h};
Point(2) = {L, 0, 0, h};
Point(3) = {L, L, 0, h};
Point(4) = {0, L, 0, h};
// opposite sides have the same orientation (needed for the periodic copies)
Line(1) = {1, 2};  // bottom
Line(2) = {2, 3};  // right
Line(3) = {4, 3};  // top
Line(4) = {1, 4};  // left
Curve Loop(1) = {1, 2, -3, -4};

holes() = {};
incl() = {};
For i In {0:np - 1}
  pc = newp;
  Point(pc) = {xs(i), ys(i), 0, h};
  Point(pc + 1) = {xs(i) + R, ys(i), 0, h};
  Point(pc + 2) = {xs(i), ys(i) + R, 0, h};
  Point(pc + 3) = {xs(i) - R, ys(i), 0, h};
  Point(pc + 4) = {xs(i), ys(i) - R, 0, h};
  c = newc;
  Circle(c) = {pc + 1, pc, pc + 2};
  Circle(c + 1) = {pc + 2, pc, pc + 3};
  Circle(c + 2) = {pc + 3, pc, pc + 4};
  Circle(c + 3) = {pc + 4, pc, pc + 1};
  cl = newcl;
  Curve Loop(cl) = {c, c + 1, c + 2, c + 3};
  holes() += {cl};
  sf = news;
  Plane Surface(sf) = {cl};
  incl() += {sf};
EndFor

sm = news;
Plane Surface(sm) = {1, holes()};  // matrix

Periodic Curve {2} = {4} Translate {L, 0, 0};
Periodic Curve {3} = {1} Translate {0, L, 0};

Physical Surface("matrix") = {sm};
Physical Surface("inclusion") = {incl()};
Physical Curve("left") = {4};
Physical Curve("right") = {2};
Physical Curve("bottom") = {1};
Physical Curve("top") = {3};
