//! Pure domain rules shared by the API, the seeder and the CLI: identifier checks, region code
//! arithmetic and risk rules. Nothing here touches the database or the web.

pub mod idnumber;
pub mod region;
