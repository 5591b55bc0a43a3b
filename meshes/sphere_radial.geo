// sphere_radial.geo -- the radius of a spherically symmetric particle, [0, R] on the x axis, for
// the 1D radial chemo-mechanics model (fe2.physics.chemo_mechanics, model = "sphere_1d"),
// optionally with a concentric binder shell [R, R + shell].
//
// Frame: the particle centre at the origin; lengths in metres.
// Physical groups:
//   lines  (1): "particle" (0 < r < R), "binder" (R < r < R + shell; only if shell > 0)
//   points (0): "centre" (r = 0), "surface" (r = R), "outer" (r = R + shell; only if shell > 0)
// Mesh: n elements in the particle, graded towards the surface by `progression` (each element
// is `progression` times the previous one going outwards; < 1 refines the surface, where the
// concentration and the stresses change fastest), n_shell uniform elements in the shell.

DefineConstant[
  R = {5e-6, Min 1e-12, Max 1, Name "Parameters/R"},                  // particle radius [m]
  n = {100, Min 2, Max 1000000, Step 1, Name "Parameters/n"},         // elements in the particle
  progression = {1.0, Min 0.5, Max 2, Name "Parameters/progression"}, // element growth outwards
  shell = {0, Min 0, Max 1, Name "Parameters/shell"},                 // binder shell thickness [m]
  n_shell = {20, Min 1, Max 1000000, Step 1, Name "Parameters/n_shell"}
];

Point(1) = {0, 0, 0};
Point(2) = {R, 0, 0};
Line(1) = {1, 2};
Transfinite Curve{1} = n + 1 Using Progression progression;
Physical Point("centre") = {1};
Physical Point("surface") = {2};
Physical Line("particle") = {1};
If (shell > 0)
  Point(3) = {R + shell, 0, 0};
  Line(2) = {2, 3};
  Transfinite Curve{2} = n_shell + 1;
  Physical Line("binder") = {2};
  Physical Point("outer") = {3};
EndIf
