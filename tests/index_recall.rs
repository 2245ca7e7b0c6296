//! The HNSW index finds what an exact scan finds, on clustered vectors like a catalog's.

use vitrine::index::{EF_CONSTRUCTION, EF_SEARCH, Hnsw, Neighbours, VectorSet, dot};

fn clustered(n: usize, dim: usize, seed: u64) -> (VectorSet, Vec<Vec<f32>>) {
    let mut s = seed;
    let mut rnd = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f32 / (1u64 << 53) as f32 - 0.5
    };
    let unit = |v: Vec<f32>| {
        let n = dot(&v, &v).sqrt();
        v.into_iter().map(|x| x / n).collect::<Vec<f32>>()
    };
    let centres: Vec<Vec<f32>> = (0..n / 100)
        .map(|_| unit((0..dim).map(|_| rnd()).collect()))
        .collect();
    let point = |rnd: &mut dyn FnMut() -> f32| {
        let c = &centres[((rnd() + 0.5) * centres.len() as f32) as usize % centres.len()];
        unit(c.iter().map(|x| x + rnd() * 0.15).collect())
    };
    let mut set = VectorSet::new(dim);
    for i in 0..n {
        set.push(i as i64, &point(&mut rnd)).unwrap();
    }
    let queries = (0..100).map(|_| point(&mut rnd)).collect();
    (set, queries)
}

#[test]
fn hnsw_recall_at_10_is_at_least_095_and_a_saved_index_loads() {
    let (set, queries) = clustered(20_000, 64, 0x9e3779b97f4a7c15);
    let hnsw = Hnsw::build(&set, EF_CONSTRUCTION, EF_SEARCH);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.hnsw");
    hnsw.save(&path).unwrap();
    let nn = Neighbours::new(set.clone(), Some(Hnsw::load(&path).unwrap()));
    assert!(nn.uses_index());
    let mut hits = 0;
    for q in &queries {
        let truth: Vec<i64> = set.top_k(q, 10).into_iter().map(|(id, _)| id).collect();
        let found = nn.nearest(q, 10);
        for (id, score) in &found {
            // The graph stores half precision; what it returns carries the exact cosine.
            assert_eq!(*score, dot(set.row(*id as usize), q));
        }
        hits += found.iter().filter(|(id, _)| truth.contains(id)).count();
    }
    let recall = hits as f64 / (10 * queries.len()) as f64;
    assert!(recall >= 0.95, "recall@10 {recall}");

    // Fewer neighbours explored, without building again: at most that many come back.
    let mut narrow = Hnsw::load(&path).unwrap();
    narrow.set_ef_search(5);
    assert_eq!(narrow.search(&queries[0], 10).len(), 5);
    assert_eq!(Hnsw::load(&path).unwrap().search(&queries[0], 10).len(), 10);

    let saved = std::fs::read(&path).unwrap();
    std::fs::write(&path, &saved[..saved.len() / 2]).unwrap();
    assert!(Hnsw::load(&path).is_err(), "a truncated index is an error");
    let mut huge = saved[..8].to_vec();
    huge.extend_from_slice(&[0xff; 64]);
    std::fs::write(&path, &huge).unwrap();
    assert!(Hnsw::load(&path).is_err(), "absurd lengths are an error");
    std::fs::write(&path, b"garbage").unwrap();
    assert!(
        Hnsw::load(&path).is_err(),
        "a damaged index is an error (and gets rebuilt), not a crash"
    );
}

#[test]
fn an_index_of_other_vectors_is_refused_not_used() {
    use vitrine::OwnerKind;
    use vitrine::index::IndexAbout;
    let (set, _) = clustered(500, 16, 7);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.hnsw");
    let about = IndexAbout {
        model: "clip-a".into(),
        kind: OwnerKind::Image,
        dim: set.dim,
        count: set.len(),
    };
    Hnsw::build(&set, EF_CONSTRUCTION, EF_SEARCH)
        .with_about(about)
        .save(&path)
        .unwrap();
    assert!(Hnsw::load_for(&path, "clip-a", OwnerKind::Image, set.dim).is_ok());
    for (model, kind, dim, says) in [
        ("clip-b", OwnerKind::Image, set.dim, "not clip-b"),
        (
            "clip-a",
            OwnerKind::Product,
            set.dim,
            "not clip-a (product)",
        ),
        ("clip-a", OwnerKind::Image, set.dim + 1, "dimensional"),
    ] {
        let err = Hnsw::load_for(&path, model, kind, dim)
            .err()
            .expect("refused");
        assert!(err.to_string().contains(says), "{err}");
    }
    // An index that does not say what it holds is refused too.
    Hnsw::build(&set, EF_CONSTRUCTION, EF_SEARCH)
        .save(&path)
        .unwrap();
    assert!(Hnsw::load_for(&path, "clip-a", OwnerKind::Image, set.dim).is_err());
}
