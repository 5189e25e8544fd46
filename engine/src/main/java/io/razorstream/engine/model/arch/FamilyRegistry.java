package io.razorstream.engine.model.arch;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.ServiceLoader;

/**
 * The families {@link ServiceLoader} finds, loaded once (on first use), sorted by name; two with one name are an error.
 */
final class FamilyRegistry {
    static final List<Family> ALL = load();

    private FamilyRegistry() {}

    private static List<Family> load() {
        List<Family> found = new ArrayList<>();
        Map<String, Family> byName = new HashMap<>();
        for (Family f : ServiceLoader.load(Family.class, Family.class.getClassLoader())) {
            Family other = byName.putIfAbsent(f.architecture().name(), f);
            if (other != null) {
                throw new IllegalStateException("two families named '"
                        + f.architecture().name() + "': " + other.getClass().getName() + " and "
                        + f.getClass().getName());
            }
            found.add(f);
        }
        if (found.isEmpty())
            throw new IllegalStateException(
                    "no model family registered (META-INF/services/" + Family.class.getName() + " missing)");
        found.sort(Comparator.comparing(f -> f.architecture().name()));
        return List.copyOf(found);
    }
}
