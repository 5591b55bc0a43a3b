// sphere_axisymmetric.geo -- the meridian quarter of a spherical particle in the (r, z) half
// plane, for the 2D axisymmetric chemo-mechanics model (model = "axisymmetric": x = r, y = z,
// rotation about the y axis), optionally with a concentric binder shell.
//
// Frame: the particle centre at the origin; lengths in metres. The quarter disc
// r² + z² <= R², r >= 0, z >= 0 (the lower half follows by symmetry about z = 0).
// Physical groups:
//   surfaces (2): "particle", "binder" (R < ρ < R + shell; only if shell > 0)
//   curves   (1): "axis" (r = 0), "equator" (z = 0), "surface" (ρ = R),
//                 "outer" (ρ = R + shell; only if shell > 0)
// Mesh: size h in the particle, h_surface on its surface (the boundary layer of the
// concentration), h_shell in the shell.

SetFactory("OpenCASCADE");

DefineConstant[
  R = {5e-6, Min 1e-12, Max 1, Name "Parameters/R"},               // particle radius [m]
  h = {0.05, Min 1e-4, Max 1, Name "Parameters/h"},                // mesh size in the core [R]
  h_surface = {0.02, Min 1e-4, Max 1, Name "Parameters/h_surface"}, // at the surface [R]
  shell = {0, Min 0, Max 1, Name "Parameters/shell"},              // binder shell thickness [m]
  h_shell = {0.05, Min 1e-4, Max 1, Name "Parameters/h_shell"}     // in the shell [R]
];

Disk(1) = {0, 0, 0, R};
Rectangle(2) = {0, 0, 0, 2 * (R + shell), 2 * (R + shell)};
If (shell > 0)
  Disk(4) = {0, 0, 0, R + shell};
  BooleanIntersection(5) = { Surface{4}; Delete; }{ Surface{2}; };
  BooleanIntersection(3) = { Surface{1}; Delete; }{ Surface{2}; Delete; };
  BooleanFragments{ Surface{5}; Delete; }{ Surface{3}; Delete; }
Else
  BooleanIntersection(3) = { Surface{1}; Delete; }{ Surface{2}; Delete; };
EndIf
e = 0.05 * R + 2e-7;  // bounding-box slack (OCC pads boxes by ~1e-7; the shell must be thicker)
core() = Surface In BoundingBox{-e, -e, -e, R + e, R + e, e};
every() = Surface{:};
shellpart() = every();
shellpart() -= core();
axis() = Curve In BoundingBox{-e, -e, -e, e, R + shell + e, e};
equator() = Curve In BoundingBox{-e, -e, -e, R + shell + e, e, e};
arcs() = Curve{:};
arcs() -= axis();
arcs() -= equator();
inner() = Curve In BoundingBox{-e, -e, -e, R + e, R + e, e};
inner() -= axis();
inner() -= equator();
outer() = arcs();
outer() -= inner();

Physical Surface("particle") = core();
Physical Curve("axis") = axis();
Physical Curve("equator") = equator();
Physical Curve("surface") = inner();
If (shell > 0)
  Physical Surface("binder") = shellpart();
  Physical Curve("outer") = outer();
EndIf

MeshSize{ PointsOf{ Surface{:}; } } = h_shell * R;
MeshSize{ PointsOf{ Surface{core()}; } } = h * R;
MeshSize{ PointsOf{ Curve{inner()}; } } = h_surface * R;
