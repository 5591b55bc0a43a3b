// rve_particles2d.geo -- 2D periodic RVE of a porous electrode: a random, seeded,
// non-overlapping pack of N equal particles (circles, or ellipses aligned with x) in a
// connected pore space, with a target porosity. Particles that cross the cell boundary
// are wrapped: the parts outside reappear on the opposite side.
//
// Frame: cell [0,L]x[0,L] in the z=0 plane, corner at the origin. All lengths (L, gap,
// margin, h) are in one common, arbitrary unit; gap, margin and h are absolute, so a
// bigger L at the same porosity and N/L^2 gives a bigger cell with the same particles.
//
// Particles: every particle has the area pi R^2 with R = L sqrt((1 - porosity)/(N pi)),
// so the porosity is exact up to the polygonal mesh. With aspect = a/b >= 1 the
// particles are ellipses with semi-axes a = s R along x and b = R/s along y
// (s = sqrt(aspect)); aspect = 1 gives circles of radius R.
// Placement: random sequential addition in the "circle frame" (x/s, y*s), where the
// cell is (L/s) x (L s) and the particles are circles of radius R; mapping back by
// (s, 1/s) keeps areas and disjointness. Centres are drawn uniformly in the whole
// periodic cell with a Park-Miller "minimal standard" generator written in the .geo
// language (state <- 16807*state mod (2^31-1), exact in double precision), seeded by
// `seed`. A candidate is rejected if (circle frame, nearest periodic image) it comes
// closer than `gap` to a particle already placed, or if its outline comes within
// `margin` of a cell side or corner without clearly crossing it (no sliver cells).
// Parsing stops with an Error if N particles cannot be placed in `max_attempts` draws
// (random sequential addition of circles jams near a covered fraction of 0.547, so
// porosities below about 0.5 need a smaller gap or are out of reach).
// The same parameters always give the same microstructure.
//
// Physical groups:
//   surfaces (2): "pore" (electrolyte), "solid" (all particle pieces)
//   curves   (1): "left" (x=0), "right" (x=L), "bottom" (y=0), "top" (y=L)
// Periodic mesh: right = left + (L,0); top = bottom + (0,L).
//
// OpenCASCADE kernel: every particle image that meets the cell is intersected with the
// cell, the pore is the cell minus these pieces, and BooleanFragments glues them.

SetFactory("OpenCASCADE");

DefineConstant[
  L = {1, Min 0.1, Max 100, Name "Parameters/L"},                         // cell side length
  N = {12, Min 1, Max 2000, Step 1, Name "Parameters/N"},                 // number of particles
  porosity = {0.6, Min 0.3, Max 0.99, Name "Parameters/porosity"},       // target pore volume fraction [-]
  aspect = {1, Min 1, Max 10, Name "Parameters/aspect"},                  // a/b of the ellipses (1: circles), long axis along x
  gap = {0.02, Min 0, Max 10, Name "Parameters/gap"},                     // min. particle-particle distance (circle frame)
  margin = {0.01, Min 0, Max 1, Name "Parameters/margin"},                // min. distance of an outline from a side/corner it does not cross
  seed = {1, Min 1, Max 2147483646, Step 1, Name "Parameters/seed"},      // generator seed (integer 1 .. 2^31-2)
  max_attempts = {100000, Min 1, Step 1, Name "Parameters/max_attempts"}, // max. number of candidate centres drawn
  h = {0.04, Min 0.001, Max 1, Name "Parameters/h"}                       // characteristic mesh size
];

s = Sqrt(aspect);
R = L * Sqrt((1 - porosity) / (N * Pi));
Lx = L / s;  // circle-frame cell
Ly = L * s;
If (2 * R + gap >= Lx || 2 * R + gap >= Ly)
  Error("rve_particles2d.geo: particles too large for the cell (R = %g, gap = %g, L = %g, aspect = %g): raise N or porosity", R, gap, L, aspect);
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

// ---- random sequential addition (circle frame, periodic) ----------------------
xs() = {};
ys() = {};
np = 0;
dmin = 2 * R + gap;
// (attempts in blocks of 100: a .geo loop cannot stop early, and an idle pass costs)
For block In {1:Ceil(max_attempts / 100)}
  If (np < N)
    For att In {1:100}
      If (np < N)
        rng = Fmod(16807 * rng, M31);
        x = Lx * rng / M31;
        rng = Fmod(16807 * rng, M31);
        y = Ly * rng / M31;
        // outline clear of the sides and corners it does not cross (in the real frame)
        dx = (x < Lx - x) ? x : Lx - x;
        dy = (y < Ly - y) ? y : Ly - y;
        ok = (Fabs(dx * s - R * s) >= margin && Fabs(dy / s - R / s) >= margin);
        // corner: the nearest corner must not lie within margin of the outline; in the
        // circle frame the outline is at distance R from the centre
        If (ok && Fabs(Sqrt(dx^2 + dy^2) - R) < margin)
          ok = 0;
        EndIf
        If (ok && np > 0)
          For j In {0:np - 1}
            ex = x - xs(j);
            ex -= Lx * Floor(ex / Lx + 0.5);
            ey = y - ys(j);
            ey -= Ly * Floor(ey / Ly + 0.5);
            If (ex^2 + ey^2 < dmin^2)
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
  EndIf
EndFor
If (np < N)
  Error("rve_particles2d.geo: placed only %g of %g particles in %g attempts (lower N or gap, raise porosity or max_attempts, or change seed)", np, N, max_attempts);
EndIf

// ---- geometry: wrapped particle pieces, pore, fragments ------------------------
Rectangle(1) = {0, 0, 0, L, L};
a = s * R;
b = R / s;
pieces() = {};
For i In {0:np - 1}
  xc = s * xs(i);
  yc = ys(i) / s;
  For ix In {-1:1}
    For iy In {-1:1}
      cx = xc + ix * L;
      cy = yc + iy * L;
      If (cx + a > 0 && cx - a < L && cy + b > 0 && cy - b < L)
        d = news;
        Disk(d) = {cx, cy, 0, a, b};
        pieces() += BooleanIntersection{ Surface{d}; Delete; }{ Surface{1}; };
      EndIf
    EndFor
  EndFor
EndFor
pore() = BooleanDifference{ Surface{1}; Delete; }{ Surface{pieces()}; };
all() = BooleanFragments{ Surface{pore()}; Delete; }{ Surface{pieces()}; Delete; };
// fragments keep the tags of surfaces it does not cut (Geometry.OCCBooleanPreserveNumbering)

// periodic pairs: every curve on the far side is matched with the near-side curve whose
// bounding box, shifted by the cell vector, is the same (as in Gmsh tutorial t18)
e = 1e-6 * L;
left() = Curve In BoundingBox{-e, -e, -e, e, L + e, e};
right() = Curve In BoundingBox{L - e, -e, -e, L + e, L + e, e};
bottom() = Curve In BoundingBox{-e, -e, -e, L + e, e, e};
top() = Curve In BoundingBox{-e, L - e, -e, L + e, L + e, e};
For axis In {0:1}
  near() = left();
  tx = L;
  If (axis == 1)
    near() = bottom();
    tx = 0;
  EndIf
  ty = L - tx;
  For i In {0:#near() - 1}
    bb() = BoundingBox Curve{near(i)};
    far() = Curve In BoundingBox{bb(0) + tx - e, bb(1) + ty - e, -e, bb(3) + tx + e, bb(4) + ty + e, e};
    If (#far() != 1)
      Error("rve_particles2d.geo: no unique periodic image of curve %g", near(i));
    EndIf
    Periodic Curve{far(0)} = {near(i)} Translate{tx, ty, 0};
  EndFor
EndFor

MeshSize{PointsOf{Surface{:};}} = h;

Physical Surface("pore") = {pore()};
Physical Surface("solid") = {pieces()};
Physical Curve("left") = {left()};
Physical Curve("right") = {right()};
Physical Curve("bottom") = {bottom()};
Physical Curve("top") = {top()};
