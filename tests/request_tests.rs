//! Forget requests: disjoint cover, stratification, seeds, multi-round sizes, JSON replay, errors.
use tch::Device;
use unlearn::data::request::{ForgetRequest, RequestKind};
use unlearn::data::synthetic::{synthetic, SyntheticOptions};
use unlearn::data::{Dataset, LoadOptions};

fn data(n: usize, classes: usize) -> Dataset {
    let o = SyntheticOptions { train: n, test: 2, classes, channels: 1, height: 4, width: 4, ..Default::default() };
    synthetic(&o, &LoadOptions::default(), Device::Cpu).unwrap().train
}

fn assert_disjoint_cover(r: &ForgetRequest, n: usize) {
    let mut all: Vec<i64> = r.forget.iter().chain(&r.retain).chain(&r.earlier).copied().collect();
    all.sort();
    assert_eq!(all, (0..n as i64).collect::<Vec<_>>());
}

#[test]
fn uniform_requests_are_disjoint_covering_and_seeded() {
    let d = data(1000, 10);
    for stratified in [false, true] {
        let r = ForgetRequest::uniform(&d, 0.1, stratified, 7).unwrap();
        assert_eq!(r.forget.len(), 100);
        assert_eq!(r.retain.len(), 900);
        assert_disjoint_cover(&r, 1000);
        assert_eq!(ForgetRequest::uniform(&d, 0.1, stratified, 7).unwrap(), r);
        assert_ne!(ForgetRequest::uniform(&d, 0.1, stratified, 8).unwrap().forget, r.forget);
        if stratified {
            let mut counts = [0; 10];
            for &i in &r.forget {
                counts[d.labels_host()[i as usize] as usize] += 1;
            }
            assert_eq!(counts, [10; 10]);
        }
    }
}

#[test]
fn class_requests_take_every_item_of_the_classes() {
    let d = data(300, 3);
    let r = ForgetRequest::classes(&d, &[2, 0]).unwrap();
    assert_eq!(r.forget.len(), 200);
    assert!(r.forget.iter().all(|&i| d.labels_host()[i as usize] != 1));
    assert!(r.retain.iter().all(|&i| d.labels_host()[i as usize] == 1));
    assert_eq!(r.kind, RequestKind::Classes { classes: vec![0, 2] });
    assert_eq!(ForgetRequest::class_index(&d, "class1").unwrap(), 1);
    let err = ForgetRequest::class_index(&d, "dog").unwrap_err().to_string();
    assert!(err.contains("`dog`") && err.contains("class0"), "{err}");
    let err = ForgetRequest::classes(&d, &[3]).unwrap_err().to_string();
    assert!(err.contains("invalid class `3`") && err.contains("0..3"), "{err}");
    let err = ForgetRequest::classes(&d, &[0, 1, 2]).unwrap_err().to_string();
    assert!(err.contains("at least one item left to retain"), "{err}");
}

#[test]
fn index_requests_reject_duplicates_and_out_of_range() {
    let d = data(50, 2);
    let r = ForgetRequest::indices(&d, &[9, 3, 41], "test").unwrap();
    assert_eq!(r.forget, vec![3, 9, 41]);
    assert_disjoint_cover(&r, 50);
    let err = ForgetRequest::indices(&d, &[3, 9, 3], "test").unwrap_err().to_string();
    assert!(err.contains("`3`") && err.contains("appears twice"), "{err}");
    let err = ForgetRequest::indices(&d, &[50], "test").unwrap_err().to_string();
    assert!(err.contains("`50`") && err.contains("0..50"), "{err}");
    let err = ForgetRequest::uniform(&d, 1.0, false, 1).unwrap_err().to_string();
    assert!(err.contains("forget fraction `1`"), "{err}");
    let err = ForgetRequest::uniform(&d, 0.0001, false, 1).unwrap_err().to_string();
    assert!(err.contains("at least one item to forget"), "{err}");
}

#[test]
fn index_files_in_text_and_json() {
    let d = data(50, 2);
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("forget.txt");
    std::fs::write(&text, "# items to delete\n4, 7\n12 # last one\n\n").unwrap();
    assert_eq!(ForgetRequest::indices_file(&d, &text).unwrap().forget, vec![4, 7, 12]);
    let json = dir.path().join("forget.json");
    std::fs::write(&json, "[12, 4]").unwrap();
    assert_eq!(ForgetRequest::indices_file(&d, &json).unwrap().forget, vec![4, 12]);
    std::fs::write(&text, "4\nseven\n").unwrap();
    let err = ForgetRequest::indices_file(&d, &text).unwrap_err().to_string();
    assert!(err.contains("forget.txt") && err.contains("line 2") && err.contains("`seven`"), "{err}");
    std::fs::write(&text, "4 4\n").unwrap();
    let err = ForgetRequest::indices_file(&d, &text).unwrap_err().to_string();
    assert!(err.contains("forget.txt") && err.contains("appears twice"), "{err}");
}

#[test]
fn multi_round_sizes_follow_method_section_4_4() {
    let d = data(90_000, 10);
    let rounds = ForgetRequest::rounds(&d, 3, 0.1, false, 5).unwrap();
    let sizes: Vec<usize> = rounds.iter().map(|r| r.forget.len()).collect();
    assert_eq!(sizes, vec![9000, 8100, 7290]);
    assert_eq!(rounds[2].retain.len(), 65_610);
    for (k, r) in rounds.iter().enumerate() {
        assert_disjoint_cover(r, 90_000);
        if k > 0 {
            // round k forgets from round k-1's retain set, and remembers everything before
            let prev: std::collections::HashSet<i64> = rounds[k - 1].retain.iter().copied().collect();
            assert!(r.forget.iter().all(|i| prev.contains(i)));
            assert_eq!(r.earlier.len(), sizes[..k].iter().sum::<usize>());
        }
    }
    assert_eq!(ForgetRequest::rounds(&d, 3, 0.1, false, 5).unwrap(), rounds);
}

#[test]
fn json_round_trip_replays_identically_and_refuses_other_data() {
    let d = data(200, 4);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("req.json");
    for r in [
        ForgetRequest::uniform(&d, 0.25, true, 3).unwrap(),
        ForgetRequest::rounds(&d, 2, 0.2, false, 9).unwrap().pop().unwrap(),
    ] {
        r.save(&path).unwrap();
        let back = ForgetRequest::load(&path, &d).unwrap();
        assert_eq!(back, r);
        assert!(back.forget_set(&d).unwrap().images().equal(r.forget_set(&d).unwrap().images()));
    }
    let other = data(201, 4);
    let err = ForgetRequest::load(&path, &other).unwrap_err().to_string();
    assert!(err.contains("req.json") && err.contains("200 items"), "{err}");
    std::fs::write(&path, "{\"kind\": 3}").unwrap();
    let err = ForgetRequest::load(&path, &d).unwrap_err().to_string();
    assert!(err.contains("req.json") && err.contains("not a forget request"), "{err}");
}
