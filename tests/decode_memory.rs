//! The photos decoding at once share one memory budget (its own test binary: the budget is
//! process-wide).

mod common;

use common::*;
use vitrine::Catalog;
use vitrine::photo::DECODE_BUDGET;

#[test]
fn parallel_import_of_large_16_bit_pngs_stays_within_the_decode_budget() {
    let dir = tempfile::tempdir().unwrap();
    let photos = dir.path().join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    let (w, h) = (1200u32, 1000u32);
    for i in 0..6u16 {
        let img = image::ImageBuffer::from_fn(w, h, |x, y| {
            image::Rgba([(x as u16) * 50 + i, (y as u16) * 60, i * 9000, u16::MAX])
        });
        image::DynamicImage::ImageRgba16(img)
            .save(photos.join(format!("big-{i}.png")))
            .unwrap();
    }
    // One photo's share is 2 × 1.2 MP × 8 bytes = 19.2 MB: a 30 MB budget takes one at a time.
    let share = 2 * (w * h) as u64 * 8;
    DECODE_BUDGET.set_capacity(30_000_000);
    let mut catalog = Catalog::open(dir.path().join("cat")).unwrap();
    let r = import(&mut catalog, &[photos]);
    assert_eq!(r.images_added, 6, "{:?}", r.skipped);
    assert!(r.skipped.is_empty(), "{:?}", r.skipped);
    let peak = DECODE_BUDGET.peak();
    assert!(peak >= share && peak <= 30_000_000, "peak {peak}");
}
