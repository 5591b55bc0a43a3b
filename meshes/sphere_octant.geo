// sphere_octant.geo -- one octant of a spherical particle (x, y, z >= 0), for 3D chemo-mechanics
// with symmetry planes (model = "3d").
//
// Frame: the particle centre at the origin; lengths in metres.
// Physical groups:
//   volume   (3): "particle"
//   surfaces (2): "symmetry_x" (x = 0), "symmetry_y" (y = 0), "symmetry_z" (z = 0),
//                 "surface" (the spherical surface ρ = R)
// Mesh: size h inside, h_surface on the spherical surface (fractions of R).

SetFactory("OpenCASCADE");

DefineConstant[
  R = {5e-6, Min 1e-12, Max 1, Name "Parameters/R"},                 // particle radius [m]
  h = {0.15, Min 1e-3, Max 1, Name "Parameters/h"},                  // mesh size inside [R]
  h_surface = {0.06, Min 1e-3, Max 1, Name "Parameters/h_surface"}   // on the surface [R]
];

Sphere(1) = {0, 0, 0, R};
Box(2) = {0, 0, 0, 2 * R, 2 * R, 2 * R};
BooleanIntersection(3) = { Volume{1}; Delete; }{ Volume{2}; Delete; };
e = 0.05 * R + 2e-7;  // bounding-box slack (OCC pads boxes by ~1e-7)

sx() = Surface In BoundingBox{-e, -e, -e, e, R + e, R + e};
sy() = Surface In BoundingBox{-e, -e, -e, R + e, e, R + e};
sz() = Surface In BoundingBox{-e, -e, -e, R + e, R + e, e};
sphere() = Surface{:};
sphere() -= sx();
sphere() -= sy();
sphere() -= sz();

Physical Volume("particle") = {3};
Physical Surface("symmetry_x") = sx();
Physical Surface("symmetry_y") = sy();
Physical Surface("symmetry_z") = sz();
Physical Surface("surface") = sphere();

MeshSize{ PointsOf{ Volume{3}; } } = h * R;
MeshSize{ PointsOf{ Surface{sphere()}; } } = h_surface * R;
