//! Image builds from a Dockerfile, as Docker's classic builder makes them (`POST /build`), and
//! `docker commit`.

pub mod dockerfile;
