//! Missing or damaged thumbnails are noticed and made again.

mod common;

use common::*;
use vitrine::Catalog;

#[test]
fn missing_and_damaged_thumbnails_are_reported_and_made_again() {
    let dir = tempfile::tempdir().unwrap();
    let photos = dir.path().join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    for i in 0..3 {
        write_jpeg(&photos.join(format!("p{i}.jpg")), 90, 70, 20 + i);
    }
    let mut catalog = Catalog::open(dir.path().join("cat")).unwrap();
    import(&mut catalog, std::slice::from_ref(&photos));
    assert!(catalog.check_thumbnails().unwrap().is_empty());

    let products = catalog.products(&Default::default()).unwrap();
    let thumb = |i: usize| catalog.thumbnail_path(&products[i].images[0].hash);
    std::fs::remove_file(thumb(0)).unwrap();
    std::fs::write(thumb(1), b"not a jpeg").unwrap();
    let mut problems = catalog.check_thumbnails().unwrap();
    problems.sort_by(|a, b| a.why.cmp(&b.why));
    let whys: Vec<&str> = problems.iter().map(|p| p.why.as_str()).collect();
    assert_eq!(whys, ["damaged", "missing"]);

    let (made, failed) = catalog.repair_thumbnails(&problems).unwrap();
    assert_eq!((made, failed.len()), (2, 0));
    assert!(catalog.check_thumbnails().unwrap().is_empty());

    // Importing the same photos again makes a vanished thumbnail too.
    std::fs::remove_dir_all(catalog.thumbs_dir()).unwrap();
    std::fs::create_dir_all(catalog.thumbs_dir()).unwrap();
    assert_eq!(catalog.check_thumbnails().unwrap().len(), 3);
    let again = import(&mut catalog, &[photos]);
    assert_eq!(again.photos_processed + again.photos_reused, 3);
    assert!(catalog.check_thumbnails().unwrap().is_empty());
}
