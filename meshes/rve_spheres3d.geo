// rve_spheres3d.geo -- 3D periodic RVE of a porous electrode: a random, seeded,
// non-overlapping packing of N equal spheres in a connected pore space, with a target
// porosity. Spheres that cross the cell boundary are wrapped: the parts outside
// reappear on the opposite faces.
//
// Frame: cell [0,L]^3, corner at the origin. All lengths (L, gap, margin, h) are in one
// common, arbitrary unit; gap, margin and h are absolute, so a bigger L at the same
// porosity and N/L^3 gives a bigger cell with the same spheres.
//
// Spheres: radius R = L (3 (1 - porosity)/(4 pi N))^(1/3), so the porosity is exact up
// to the polyhedral mesh. Placement: random sequential addition in the periodic cell
// with a Park-Miller "minimal standard" generator written in the .geo language
// (state <- 16807*state mod (2^31-1), exact in double precision), seeded by `seed`.
// A candidate is rejected if it comes closer than `gap` to a sphere already placed
// (nearest periodic image), or if its surface comes within `margin` of a face, an edge
// or a corner of the cell without clearly crossing it (no sliver cells). Parsing stops
// with an Error if N spheres cannot be placed in `max_attempts` draws (random
// sequential addition of spheres jams near a solid fraction of 0.38: porosities below
// about 0.65 are out of reach). The same parameters always give the same packing.
//
// Physical groups:
//   volumes  (3): "pore" (electrolyte), "solid" (all sphere pieces)
//   surfaces (2): "left" (x=0), "right" (x=L), "bottom" (y=0), "top" (y=L),
//                 "back" (z=0), "front" (z=L)
// Periodic mesh: right = left + (L,0,0); top = bottom + (0,L,0); front = back + (0,0,L).
//
// OpenCASCADE kernel: every sphere image that meets the cell is intersected with the
// cell, the pore is the cell minus these pieces, and BooleanFragments glues them.

SetFactory("OpenCASCADE");

DefineConstant[
  L = {1, Min 0.1, Max 100, Name "Parameters/L"},                         // cell side length
  N = {10, Min 1, Max 2000, Step 1, Name "Parameters/N"},                 // number of spheres
  porosity = {0.8, Min 0.6, Max 0.99, Name "Parameters/porosity"},       // target pore volume fraction [-]
  gap = {0.02, Min 0, Max 10, Name "Parameters/gap"},                     // min. sphere-sphere distance
  margin = {0.02, Min 0, Max 1, Name "Parameters/margin"},                // min. distance of a surface from a face/edge/corner it does not cross
  seed = {1, Min 1, Max 2147483646, Step 1, Name "Parameters/seed"},      // generator seed (integer 1 .. 2^31-2)
  max_attempts = {100000, Min 1, Step 1, Name "Parameters/max_attempts"}, // max. number of candidate centres drawn
  h = {0.1, Min 0.005, Max 1, Name "Parameters/h"}                        // characteristic mesh size
];

R = L * ((1 - porosity) * 3 / (4 * Pi * N))^(1 / 3);
If (2 * R + gap >= L)
  Error("rve_spheres3d.geo: spheres too large for the cell (R = %g, gap = %g, L = %g): raise N or porosity", R, gap, L);
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

// ---- random sequential addition (periodic) ----------------------------------------
xs() = {};
ys() = {};
zs() = {};
np = 0;
dmin = 2 * R + gap;
// (attempts in blocks of 100: a .geo loop cannot stop early, and an idle pass costs)
For block In {1:Ceil(max_attempts / 100)}
  If (np < N)
    For att In {1:100}
      If (np < N)
        rng = Fmod(16807 * rng, M31);
        x = L * rng / M31;
        rng = Fmod(16807 * rng, M31);
        y = L * rng / M31;
        rng = Fmod(16807 * rng, M31);
        z = L * rng / M31;
        dx = (x < L - x) ? x : L - x;  // distances to the nearest face, edge and corner
        dy = (y < L - y) ? y : L - y;
        dz = (z < L - z) ? z : L - z;
        ok = (Fabs(dx - R) >= margin && Fabs(dy - R) >= margin && Fabs(dz - R) >= margin &&
              Fabs(Sqrt(dx^2 + dy^2) - R) >= margin && Fabs(Sqrt(dy^2 + dz^2) - R) >= margin &&
              Fabs(Sqrt(dx^2 + dz^2) - R) >= margin && Fabs(Sqrt(dx^2 + dy^2 + dz^2) - R) >= margin);
        If (ok && np > 0)
          For j In {0:np - 1}
            ex = x - xs(j);
            ex -= L * Floor(ex / L + 0.5);
            ey = y - ys(j);
            ey -= L * Floor(ey / L + 0.5);
            ez = z - zs(j);
            ez -= L * Floor(ez / L + 0.5);
            If (ex^2 + ey^2 + ez^2 < dmin^2)
              ok = 0;
            EndIf
          EndFor
        EndIf
        If (ok)
          xs() += {x};
          ys() += {y};
          zs() += {z};
          np = np + 1;
        EndIf
      EndIf
    EndFor
  EndIf
EndFor
If (np < N)
  Error("rve_spheres3d.geo: placed only %g of %g spheres in %g attempts (lower N or gap, raise porosity or max_attempts, or change seed)", np, N, max_attempts);
EndIf

// ---- geometry: wrapped sphere pieces, pore, fragments ---------------------------
Box(1) = {0, 0, 0, L, L, L};
pieces() = {};
For i In {0:np - 1}
  For ix In {-1:1}
    For iy In {-1:1}
      For iz In {-1:1}
        cx = xs(i) + ix * L;
        cy = ys(i) + iy * L;
        cz = zs(i) + iz * L;
        If (cx + R > 0 && cx - R < L && cy + R > 0 && cy - R < L && cz + R > 0 && cz - R < L)
          v = newv;
          Sphere(v) = {cx, cy, cz, R};
          pieces() += BooleanIntersection{ Volume{v}; Delete; }{ Volume{1}; };
        EndIf
      EndFor
    EndFor
  EndFor
EndFor
pore() = BooleanDifference{ Volume{1}; Delete; }{ Volume{pieces()}; };
all() = BooleanFragments{ Volume{pore()}; Delete; }{ Volume{pieces()}; Delete; };
// fragments keep the tags of volumes it does not cut (Geometry.OCCBooleanPreserveNumbering)

// periodic pairs: every surface on a far face is matched with the near-face surface whose
// bounding box, shifted by the cell vector, is the same (as in Gmsh tutorial t18)
e = 1e-6 * L;
left() = Surface In BoundingBox{-e, -e, -e, e, L + e, L + e};
right() = Surface In BoundingBox{L - e, -e, -e, L + e, L + e, L + e};
bottom() = Surface In BoundingBox{-e, -e, -e, L + e, e, L + e};
top() = Surface In BoundingBox{-e, L - e, -e, L + e, L + e, L + e};
back() = Surface In BoundingBox{-e, -e, -e, L + e, L + e, e};
front() = Surface In BoundingBox{-e, -e, L - e, L + e, L + e, L + e};
For axis In {0:2}
  near() = left();
  If (axis == 1)
    near() = bottom();
  EndIf
  If (axis == 2)
    near() = back();
  EndIf
  tx = (axis == 0) ? L : 0;
  ty = (axis == 1) ? L : 0;
  tz = (axis == 2) ? L : 0;
  For i In {0:#near() - 1}
    bb() = BoundingBox Surface{near(i)};
    far() = Surface In BoundingBox{bb(0) + tx - e, bb(1) + ty - e, bb(2) + tz - e,
                                   bb(3) + tx + e, bb(4) + ty + e, bb(5) + tz + e};
    match = -1;
    For j In {0:#far() - 1}
      bf() = BoundingBox Surface{far(j)};
      If (Fabs(bf(0) - tx - bb(0)) < e && Fabs(bf(1) - ty - bb(1)) < e &&
          Fabs(bf(2) - tz - bb(2)) < e && Fabs(bf(3) - tx - bb(3)) < e &&
          Fabs(bf(4) - ty - bb(4)) < e && Fabs(bf(5) - tz - bb(5)) < e)
        If (match >= 0)
          Error("rve_spheres3d.geo: no unique periodic image of surface %g", near(i));
        EndIf
        match = far(j);
      EndIf
    EndFor
    If (match < 0)
      Error("rve_spheres3d.geo: no periodic image of surface %g", near(i));
    EndIf
    Periodic Surface{match} = {near(i)} Translate{tx, ty, tz};
  EndFor
EndFor

MeshSize{PointsOf{Volume{:};}} = h;
Mesh.Algorithm = 5;  // Delaunay surface meshes: robust on the cut sphere caps

Physical Volume("pore") = {pore()};
Physical Volume("solid") = {pieces()};
Physical Surface("left") = {left()};
Physical Surface("right") = {right()};
Physical Surface("bottom") = {bottom()};
Physical Surface("top") = {top()};
Physical Surface("back") = {back()};
Physical Surface("front") = {front()};
