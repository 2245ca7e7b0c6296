//! Importing the real Luma catalog: counts, incremental re-imports, changed and vanished photos.

mod common;

use common::*;
use vitrine::{Catalog, ImportOptions, ProductFilter};

#[test]
fn luma_imports_completely_and_a_second_import_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut catalog = Catalog::open(dir.path().join("cat")).unwrap();
    let first = import(&mut catalog, &luma_sources());
    assert_eq!(first.status, "completed");
    assert!(first.skipped.is_empty(), "skipped: {:?}", first.skipped);
    assert_eq!(first.products_added, 196);
    assert_eq!(first.images_added, 733);
    assert_eq!(first.photos_processed, 723);

    let stats = catalog.stats().unwrap();
    assert_eq!(stats.products, 196);
    assert_eq!(stats.images, 733);
    assert_eq!(stats.distinct_photos, 723);
    assert_eq!(stats.products_without_images, 0);

    // Every photo has its thumbnail, long side at most 320 px.
    for p in catalog.products(&ProductFilter::default()).unwrap() {
        for img in &p.images {
            let t = image::image_dimensions(catalog.thumbnail_path(&img.hash)).unwrap();
            assert!(
                t.0.max(t.1) <= 320 && t.0.max(t.1) >= 100,
                "thumbnail {t:?}"
            );
        }
    }

    // The variant rows of one product are one product with all its colours.
    let hoodie = catalog.product("MH09").unwrap();
    assert_eq!(hoodie.title, "Abominable Hoodie");
    assert_eq!(hoodie.category, "Men/Tops/Hoodies & Sweatshirts");
    assert_eq!(hoodie.color, "Blue, Green, Red");
    assert_eq!(hoodie.price, Some(69.0));
    assert_eq!(hoodie.images.len(), 5);
    assert!(
        hoodie
            .images
            .iter()
            .any(|i| i.view == "back" && i.color == "Blue")
    );

    let second = import(&mut catalog, &luma_sources());
    assert_eq!(
        (
            second.products_added,
            second.products_updated,
            second.images_added,
            second.images_updated
        ),
        (0, 0, 0, 0)
    );
    assert_eq!(second.products_unchanged, 196);
    assert_eq!(second.images_unchanged, 733);
    assert_eq!(second.photos_processed + second.photos_reused, 0);
    assert!(second.missing.is_empty());
}

#[test]
fn a_changed_photo_is_processed_again_and_a_vanished_one_is_reported_then_pruned() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("luma");
    copy_tree(&luma(), &data);
    let sources = vec![data.join("products.csv"), data.join("images")];
    let mut catalog = Catalog::open(dir.path().join("cat")).unwrap();
    import(&mut catalog, &sources);

    let photo = data.join("images/mh09-blue_main.jpg");
    let before = catalog.product("MH09").unwrap();
    let old_hash = before
        .images
        .iter()
        .find(|i| i.path.ends_with("mh09-blue_main.jpg"))
        .unwrap()
        .hash
        .clone();
    image::open(&photo).unwrap().fliph().save(&photo).unwrap();

    let r = import(&mut catalog, &sources);
    assert_eq!(r.photos_processed, 1, "only the edited photo is read again");
    assert_eq!(r.images_updated, 1);
    assert_eq!(r.images_added, 0);
    let after = catalog.product("MH09").unwrap();
    let new = after
        .images
        .iter()
        .find(|i| i.path.ends_with("mh09-blue_main.jpg"))
        .unwrap();
    assert_ne!(new.hash, old_hash);
    assert!(catalog.thumbnail_path(&new.hash).is_file());

    // Touching a file without changing its bytes costs a hash, not a decode.
    let bytes = std::fs::read(&photo).unwrap();
    std::fs::write(&photo, &bytes).unwrap();
    let r = import(&mut catalog, &sources);
    assert_eq!(r.photos_processed, 0);
    assert_eq!(r.images_updated + r.images_added, 0);

    std::fs::remove_file(data.join("images/mh09-red_main.jpg")).unwrap();
    let r = import(&mut catalog, &sources);
    assert_eq!(r.missing.len(), 1, "{:?}", r.missing);
    assert_eq!(r.missing[0].sku, "MH09");
    assert_eq!(
        catalog.stats().unwrap().images,
        733,
        "nothing is removed without --prune"
    );

    let r = import_with(
        &mut catalog,
        ImportOptions {
            sources: sources.clone(),
            prune: true,
            ..ImportOptions::default()
        },
    );
    assert_eq!(r.pruned_images, 1);
    assert_eq!(catalog.stats().unwrap().images, 732);
    assert_eq!(catalog.product("MH09").unwrap().images.len(), 4);
    assert_eq!(catalog.integrity_check().unwrap(), "ok");
}

#[test]
fn a_folder_of_photos_alone_makes_one_product_per_photo_and_a_csv_takes_them_over() {
    let dir = tempfile::tempdir().unwrap();
    let shop = dir.path().join("shop");
    std::fs::create_dir_all(shop.join("Bags/Totes")).unwrap();
    write_jpeg(&shop.join("Bags/Totes/red_canvas-tote.jpg"), 60, 40, 3);
    write_jpeg(&shop.join("blue-mug.png"), 30, 30, 9);
    let mut catalog = Catalog::open(dir.path().join("cat")).unwrap();
    let r = import(&mut catalog, std::slice::from_ref(&shop));
    assert_eq!(r.products_added, 2);
    let tote = catalog.product("Bags/Totes/red_canvas-tote.jpg").unwrap();
    assert_eq!(tote.title, "red canvas tote");
    assert_eq!(tote.category, "Bags/Totes");

    std::fs::write(
        shop.join("products.csv"),
        "sku,title,price,image\nT-1,Canvas Tote,19.90,Bags/Totes/red_canvas-tote.jpg\n",
    )
    .unwrap();
    let r = import(&mut catalog, &[shop.join("products.csv"), shop.clone()]);
    assert!(r.skipped.is_empty(), "{:?}", r.skipped);
    let stats = catalog.stats().unwrap();
    assert_eq!(
        stats.products, 2,
        "the CSV product replaces the photo's own product"
    );
    assert_eq!(catalog.product("T-1").unwrap().images.len(), 1);
    assert!(catalog.product("Bags/Totes/red_canvas-tote.jpg").is_err());
}
